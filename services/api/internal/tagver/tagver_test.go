package tagver

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		tag      string
		ok       bool
		shape    string
		pre      bool
		floating bool
	}{
		{"17.2-alpine", true, "|2|-alpine", false, false},
		{"v3.2", true, "v|2|", false, false},
		{"1.27.3", true, "|3|", false, false},
		{"7", true, "|1|", false, true},
		{"17-bookworm", true, "|1|-bookworm", false, true},
		{"17.3-rc1", true, "|2|-rc1", true, false},
		{"1.0.0-beta.2", true, "|3|-beta.2", true, false},
		{"2.0-alpha", true, "|2|-alpha", true, false},
		{"latest", false, "", false, false},
		{"stable", false, "", false, false},
		{"main", false, "", false, false},
		{"sha-3f2a9c1", false, "", false, false},
		{"20240101", false, "", false, false},
		{"1.2.3.4.5", false, "", false, false},
		{"feature-123", false, "", false, false},
		{"1.2abc", false, "", false, false},
		{"", false, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			v, ok := Parse(tt.tag)
			if ok != tt.ok {
				t.Fatalf("Parse(%q) ok = %v, want %v", tt.tag, ok, tt.ok)
			}
			if !ok {
				return
			}
			if got := v.Shape(); got != tt.shape {
				t.Errorf("shape = %q, want %q", got, tt.shape)
			}
			if v.Pre != tt.pre {
				t.Errorf("pre = %v, want %v", v.Pre, tt.pre)
			}
			if v.Floating() != tt.floating {
				t.Errorf("floating = %v, want %v", v.Floating(), tt.floating)
			}
		})
	}
}

func TestNewer(t *testing.T) {
	pg := []string{"16.4-alpine", "17.2-alpine", "17.3-alpine", "17.4-alpine", "17.10-alpine",
		"18.1-alpine", "18-bookworm", "17.5-rc1-alpine", "17.11-alpine-rc1", "17.3", "latest", "18.2-bookworm"}
	tests := []struct {
		name    string
		current string
		tags    []string
		include string
		exclude string
		want    Candidates
		ok      bool
	}{
		{"same shape only, numeric order", "17.2-alpine", pg, "", "", Candidates{NewestInMajor: "17.10-alpine", Newest: "18.1-alpine"}, true},
		{"already newest", "18.1-alpine", pg, "", "", Candidates{}, true},
		{"exclude a major", "17.2-alpine", pg, "", `18\..*`, Candidates{NewestInMajor: "17.10-alpine", Newest: "17.10-alpine"}, true},
		{"include only", "17.2-alpine", pg, `17\.[0-4]-alpine`, "", Candidates{NewestInMajor: "17.4-alpine", Newest: "17.4-alpine"}, true},
		{"floating number compared by shape", "7", []string{"7", "8", "7.0.5", "8.0-rc1"}, "", "", Candidates{Newest: "8"}, true},
		{"pre-release current is not compared", "17.5-rc1-alpine", pg, "", "", Candidates{}, false},
		{"latest is not compared", "latest", pg, "", "", Candidates{}, false},
		{"include keeps an item on its major", "17.2-alpine", pg, `17\.\d+-alpine`, "", Candidates{NewestInMajor: "17.10-alpine", Newest: "17.10-alpine"}, true},
		{"anchored include: a partial match is no match", "17.2-alpine", pg, `17\.1`, "", Candidates{}, true},
		{"exclude one bad release", "17.2-alpine", pg, "", `17\.10-alpine|18\..*`, Candidates{NewestInMajor: "17.4-alpine", Newest: "17.4-alpine"}, true},
		{"prefix must match", "v1.2", []string{"v1.3", "1.9", "release-2.0", "feature-1.4"}, "", "", Candidates{NewestInMajor: "v1.3", Newest: "v1.3"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := CompileFilter(tt.include, tt.exclude)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := Newer(tt.current, tt.tags, f)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Newer(%q) (-want +got):\n%s", tt.current, diff)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"17.2-alpine", "v3.2", "1.27.3", "latest", "7", "1.0.0-rc.1+build", "v0.0.0-2024"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		v, ok := Parse(tag)
		if !ok {
			return
		}
		if len(v.Nums) == 0 || len(v.Nums) > MaxComponents {
			t.Fatalf("Parse(%q) has %d components", tag, len(v.Nums))
		}
		if v.Tag != tag {
			t.Fatalf("Tag = %q, want %q", v.Tag, tag)
		}
		if Compare(v, v) != 0 {
			t.Fatalf("Compare(v, v) != 0 for %q", tag)
		}
		// A tag never counts as its own update.
		if c, _ := Newer(tag, []string{tag}, Filter{}); c.Available() {
			t.Fatalf("Newer(%q, [%q]) = %+v", tag, tag, c)
		}
	})
}

func TestCompileFilterRefuses(t *testing.T) {
	for _, tt := range []struct{ include, exclude, which string }{
		{"(", "", "include"},
		{"", `\`, "exclude"},
		// Compiled inside ^(?:…)$ this would be "^(?:a)|(.*)$", matching
		// every tag: the pattern must be valid on its own.
		{`a)|(.*`, "", "include"},
		{strings.Repeat("a", MaxPatternLen+1), "", "include"},
		{"", "a{1001}", "exclude"},
	} {
		_, err := CompileFilter(tt.include, tt.exclude)
		var pe *PatternError
		if !errors.As(err, &pe) || pe.Which != tt.which {
			t.Errorf("CompileFilter(%q, %q) = %v, want a PatternError on %s", tt.include, tt.exclude, err, tt.which)
		}
	}
}
