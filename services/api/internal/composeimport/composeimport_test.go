package composeimport_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/services/api/internal/composeimport"
)

func TestParseRealLayout(t *testing.T) {
	data, err := os.ReadFile("testdata/real-layout.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PG_TAG", "from-the-server-env") // must never be seen
	p, err := composeimport.Parse(context.Background(), data, map[string]string{"WEB_TAG": "3.1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := composeimport.Project{Name: "shop", Services: []composeimport.Service{
		{Name: "admin", Image: "docker.io/acme/admin:2.3"},
		{Name: "base", Image: "ghcr.io/acme/shop-base:1.0"},
		{Name: "cache", Image: "redis:7.4"},
		{Name: "db", Image: "postgres:17-alpine"},
		{Name: "web", Image: "ghcr.io/acme/shop-web:3.1"},
		{Name: "worker", Build: true},
	}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, file string
		vars       map[string]string
		want       string
		line       int
	}{
		{"bad yaml", "services:\n  web:\n    image: a: b\n  db:\n    image: x\n", nil, "mapping values", 3},
		{"tab indentation", "services:\n\tweb:\n", nil, "", 2},
		{"required variable", "services:\n  web:\n    image: app:${TAG:?set TAG}\n", nil, "TAG", 0},
		{"unknown property", "services:\n  web:\n    imagee: nginx\n", nil, "imagee", 0},
		{"extends another file", "services:\n  web:\n    extends:\n      file: /etc/passwd\n      service: x\n", nil, "only the one file", 0},
		{"include", "include:\n  - /etc/hostname\nservices:\n  web:\n    image: a\n", nil, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := composeimport.Parse(context.Background(), []byte(tt.file), tt.vars, "p")
			var fe *composeimport.Error
			if tt.name == "include" {
				// include is skipped, never read: the file is accepted
				// without the included one.
				if err != nil {
					t.Fatalf("include: %v", err)
				}
				return
			}
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *composeimport.Error", err)
			}
			if tt.line != 0 && fe.Line != tt.line {
				t.Errorf("line = %d, want %d (%s)", fe.Line, tt.line, fe.Msg)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	big := make([]byte, composeimport.MaxBytes+1)
	if _, err := composeimport.Parse(context.Background(), big, nil, ""); !errors.Is(err, composeimport.ErrTooLarge) {
		t.Errorf("err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	seed, _ := os.ReadFile("testdata/real-layout.yaml")
	f.Add(string(seed))
	f.Add("services:\n  a:\n    image: x\n")
	f.Add("services: {a: {image: '${X:-y}', extends: {service: a}}}")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := composeimport.Parse(context.Background(), []byte(s), map[string]string{"X": "1"}, "fuzz")
		if err != nil {
			var fe *composeimport.Error
			if !errors.As(err, &fe) && !errors.Is(err, composeimport.ErrTooLarge) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		for _, s := range p.Services {
			if s.Name == "" {
				t.Fatal("service without a name")
			}
		}
	})
}
