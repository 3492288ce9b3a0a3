package assets

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"
	"github.com/google/go-cmp/cmp"
)

var tree = fstest.MapFS{
	"index.html":    {Data: []byte(`<!doctype html><html><head><link rel="stylesheet" href="/style.css"><script type="module" src="/app.js"></script></head><body><a href="/">home</a></body></html>`)},
	"app.js":        {Data: []byte(`import { get } from "./lib/api.js";` + "\n" + `fetch("/api/inventory"); get(); // ` + strings.Repeat("padding so it compresses ", 20))},
	"lib/api.js":    {Data: []byte(`import "../lib/dom.js"; export function get() {}`)},
	"lib/dom.js":    {Data: []byte(`export const x = 1;`)},
	"style.css":     {Data: []byte(`body { background: url(./img/bg.svg); } ` + strings.Repeat("a { color: red; } ", 20))},
	"img/bg.svg":    {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`)},
	"img/photo.png": {Data: []byte("\x89PNG not really")},
}

func mustBuild(t *testing.T, fsys fstest.MapFS) *Set {
	t.Helper()
	s, err := Build(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bySource(t *testing.T, s *Set, src string) *File {
	t.Helper()
	f, ok := s.bySource[src]
	if !ok {
		t.Fatalf("no file for source %s", src)
	}
	return f
}

func TestBuildFingerprintsAndRewritesReferences(t *testing.T) {
	s := mustBuild(t, tree)
	fp := regexp.MustCompile(`^/assets/[a-z/]+\.[0-9a-f]{12}\.(js|css|svg|png)$`)
	for src := range tree {
		f := bySource(t, s, src)
		if src == "index.html" {
			if f.URLPath != "/index.html" || f.Immutable {
				t.Errorf("index.html served at %s immutable=%v, want /index.html, not immutable", f.URLPath, f.Immutable)
			}
			continue
		}
		if !fp.MatchString(f.URLPath) || !f.Immutable {
			t.Errorf("%s served at %s immutable=%v, want a fingerprinted immutable asset", src, f.URLPath, f.Immutable)
		}
	}
	index := string(bySource(t, s, "index.html").Body())
	for _, src := range []string{"style.css", "app.js"} {
		if !strings.Contains(index, `"`+bySource(t, s, src).URLPath+`"`) {
			t.Errorf("index.html does not reference %s by its fingerprinted URL:\n%s", src, index)
		}
	}
	// Modules imported indirectly are preloaded; the entry module is not repeated.
	for _, src := range []string{"lib/api.js", "lib/dom.js"} {
		want := `<link rel="modulepreload" href="` + bySource(t, s, src).URLPath + `">`
		if !strings.Contains(index, want) {
			t.Errorf("index.html lacks %s", want)
		}
	}
	if strings.Contains(index, `modulepreload" href="`+bySource(t, s, "app.js").URLPath) {
		t.Error("index.html preloads its own entry module")
	}
	app := string(bySource(t, s, "app.js").Body())
	if !strings.Contains(app, `from "`+bySource(t, s, "lib/api.js").URLPath+`"`) {
		t.Errorf("app.js import not rewritten: %s", app)
	}
	if !strings.Contains(app, `fetch("/api/inventory")`) {
		t.Errorf("app.js API path was changed: %s", app)
	}
	if css := string(bySource(t, s, "style.css").Body()); !strings.Contains(css, "url("+bySource(t, s, "img/bg.svg").URLPath+")") {
		t.Errorf("style.css url() not rewritten: %s", css)
	}
}

func TestFingerprintChangesWithADependency(t *testing.T) {
	a := mustBuild(t, tree)
	changed := fstest.MapFS{}
	for k, v := range tree {
		changed[k] = v
	}
	changed["lib/dom.js"] = &fstest.MapFile{Data: []byte(`export const x = 2;`)}
	b := mustBuild(t, changed)
	// A change deep in the graph renames every file that leads to it, so no
	// browser can combine a cached old module with a new one.
	for _, src := range []string{"lib/dom.js", "lib/api.js", "app.js"} {
		if bySource(t, a, src).URLPath == bySource(t, b, src).URLPath {
			t.Errorf("%s kept its URL %s after a dependency changed", src, bySource(t, a, src).URLPath)
		}
	}
	if bySource(t, a, "style.css").URLPath != bySource(t, b, "style.css").URLPath {
		t.Error("style.css changed URL though nothing it refers to changed")
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		fs   fstest.MapFS
		want string
	}{
		{"missing relative import", fstest.MapFS{"a.js": {Data: []byte(`import "./b.js"`)}}, `a.js refers to "./b.js"`},
		{"cycle", fstest.MapFS{
			"a.js": {Data: []byte(`import "./b.js"`)},
			"b.js": {Data: []byte(`import "./a.js"`)},
		}, "reference cycle a.js -> b.js -> a.js"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.fs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestServe(t *testing.T) {
	s := mustBuild(t, tree)
	app := bySource(t, s, "app.js")
	png := bySource(t, s, "img/photo.png")
	idx := bySource(t, s, "index.html")
	tests := []struct {
		name       string
		method     string
		path       string
		header     map[string]string
		wantStatus int
		want       map[string]string // response headers; "" means absent
		wantBody   []byte            // decoded; nil means empty
	}{
		{
			name: "identity", path: app.URLPath, wantStatus: 200,
			want: map[string]string{
				"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": CacheImmutable,
				"Vary": "Accept-Encoding", "Content-Encoding": "", "Etag": app.reps[0].etag,
			},
			wantBody: app.Body(),
		},
		{
			name: "gzip", path: app.URLPath, header: map[string]string{"Accept-Encoding": "gzip, deflate"}, wantStatus: 200,
			want:     map[string]string{"Content-Encoding": "gzip", "Etag": app.pick("gzip").etag},
			wantBody: app.Body(),
		},
		{
			name: "brotli preferred", path: app.URLPath, header: map[string]string{"Accept-Encoding": "gzip, deflate, br, zstd"}, wantStatus: 200,
			want:     map[string]string{"Content-Encoding": "br", "Etag": app.pick("br").etag},
			wantBody: app.Body(),
		},
		{
			name: "brotli refused", path: app.URLPath, header: map[string]string{"Accept-Encoding": "br;q=0, *"}, wantStatus: 200,
			want:     map[string]string{"Content-Encoding": "gzip"},
			wantBody: app.Body(),
		},
		{
			name: "if-none-match", path: app.URLPath, header: map[string]string{"Accept-Encoding": "gzip", "If-None-Match": `"x", W/` + app.pick("gzip").etag},
			wantStatus: 304, want: map[string]string{"Etag": app.pick("gzip").etag, "Cache-Control": CacheImmutable, "Content-Type": ""},
		},
		{
			name: "etag of another encoding", path: app.URLPath, header: map[string]string{"If-None-Match": app.pick("gzip").etag},
			wantStatus: 200, wantBody: app.Body(),
		},
		{
			name: "head", method: http.MethodHead, path: app.URLPath, wantStatus: 200,
			want: map[string]string{"Content-Length": strings.TrimSpace(app.reps[0].hdr.contentLength[0])},
		},
		{
			name: "binary not compressed", path: png.URLPath, header: map[string]string{"Accept-Encoding": "gzip, br"}, wantStatus: 200,
			want:     map[string]string{"Content-Type": "image/png", "Content-Encoding": "", "Vary": ""},
			wantBody: png.Body(),
		},
		{name: "unknown", path: "/assets/app.000000000000.js", wantStatus: 404},
		{name: "document is not an asset", path: idx.URLPath, wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			if err := s.ServeAsset(rec, req); err != nil {
				rec.WriteHeader(404)
			}
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			for k, v := range tt.want {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			body := decode(t, rec.Header().Get("Content-Encoding"), rec.Body.Bytes())
			if len(body) == 0 {
				body = nil
			}
			if diff := cmp.Diff(tt.wantBody, body); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func decode(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case "":
		return b
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	default:
		t.Fatalf("unexpected Content-Encoding %q", enc)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", enc, err)
	}
	return out
}

func TestExportWritesStaticLayout(t *testing.T) {
	s := mustBuild(t, tree)
	dir := t.TempDir()
	if err := s.Export(dir); err != nil {
		t.Fatal(err)
	}
	app := bySource(t, s, "app.js")
	for name, want := range map[string][]byte{
		"index.html":            bySource(t, s, "index.html").Body(),
		app.URLPath[1:]:         app.Body(),
		app.URLPath[1:] + ".gz": app.pick("gzip").body,
		app.URLPath[1:] + ".br": app.pick("br").body,
	} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the service serves", name)
		}
	}
}

func TestClosure(t *testing.T) {
	s := mustBuild(t, tree)
	var got []string
	for _, f := range s.Closure("/index.html") {
		got = append(got, f.Source)
	}
	want := []string{"index.html", "style.css", "app.js", "img/bg.svg", "lib/api.js", "lib/dom.js"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Closure(/index.html) mismatch (-want +got):\n%s", diff)
	}
}

func FuzzNegotiate(f *testing.F) {
	s, err := Build(tree)
	if err != nil {
		f.Fatal(err)
	}
	app := s.bySource["app.js"]
	for _, seed := range []string{"", "gzip", "br;q=0.0, gzip;q=1", "*;q=0", "identity", ",,;;q=", "GZIP;q=0.5"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		enc := negotiate(accept, app)
		if enc != "" && enc != "gzip" && enc != "br" {
			t.Fatalf("negotiate(%q) = %q", accept, enc)
		}
		if enc != "" && !strings.Contains(strings.ToLower(accept), enc) && !strings.Contains(accept, "*") {
			t.Fatalf("negotiate(%q) = %q, a coding the client did not offer", accept, enc)
		}
	})
}
