package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	tests := []struct {
		file      string
		wantRules []string
	}{
		{"testdata/good.Dockerfile", nil},
		{"testdata/bad.Dockerfile", []string{"FromAsCasing", "JSONArgsRecommended"}},
		{"../../Dockerfile", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var out bytes.Buffer
			n, err := run(context.Background(), []string{tt.file}, &out)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(tt.wantRules) {
				t.Errorf("got %d findings, want %d:\n%s", n, len(tt.wantRules), out.String())
			}
			for _, rule := range tt.wantRules {
				if !strings.Contains(out.String(), rule) {
					t.Errorf("output lacks rule %s:\n%s", rule, out.String())
				}
			}
		})
	}
}

func TestMissingFileIsAnError(t *testing.T) {
	if _, err := run(context.Background(), []string{"testdata/nope"}, &bytes.Buffer{}); err == nil {
		t.Fatal("run on a missing file = nil error")
	}
}
