// Package assets turns a tree of UI source files into an immutable, in-memory
// set of HTTP representations, computed once at start-up: every file other
// than an HTML document gets a fingerprinted name (its content hash), every
// reference between files is rewritten to those names, and every file gets a
// content type, a strong ETag and precompressed gzip and brotli variants.
//
// Because a fingerprinted URL names one content forever, it is served as
// immutable for a year; HTML documents keep their names and are revalidated
// on every use (no-cache + ETag), so a deploy is visible at the next load.
package assets

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
)

// Prefix is the URL path under which fingerprinted assets are served.
const Prefix = "/assets/"

// Cache-Control values: a fingerprinted asset never changes; a document is
// revalidated each time it is used.
const (
	CacheImmutable = "public, max-age=31536000, immutable"
	CacheDocument  = "no-cache"
)

// Encodings in order of preference, as Content-Encoding tokens; "" is identity.
const (
	encIdentity = ""
	encGzip     = "gzip"
	encBrotli   = "br"
)

// File is one servable resource: a fingerprinted asset or an HTML document.
// A File never changes after Build and is safe for concurrent use.
type File struct {
	// URLPath is where the file is served, e.g. "/assets/app.1a2b3c4d5e6f.js"
	// or "/index.html".
	URLPath string
	// Source is the file's path in the source tree, e.g. "app.js".
	Source      string
	ContentType string
	// Immutable is true for fingerprinted assets.
	Immutable bool
	reps      []Representation // identity first, then compressed variants
	deps      []string         // source paths this file references
}

// Representation is one encoding of a File's content with every header value
// precomputed, so serving allocates nothing. Its accessors let servers
// other than net/http's write it.
type Representation struct {
	encoding string
	body     []byte
	etag     string
	hdr      header
}

// header holds the response header values of a representation as
// single-element slices (len == cap, so an Add elsewhere never writes into
// them), assigned straight into the response header map.
type header struct {
	contentType, cacheControl, etag, contentLength, contentEncoding, vary []string
}

// Encoding is the Content-Encoding token, or "" for identity.
func (rep *Representation) Encoding() string { return rep.encoding }

// ETag is the strong entity tag, quoted.
func (rep *Representation) ETag() string { return rep.etag }

// Body is the content as sent. The caller must not modify it.
func (rep *Representation) Body() []byte { return rep.body }

// ContentType is the Content-Type value.
func (rep *Representation) ContentType() string { return rep.hdr.contentType[0] }

// CacheControl is the Cache-Control value.
func (rep *Representation) CacheControl() string { return rep.hdr.cacheControl[0] }

// Vary reports whether the response must carry Vary: Accept-Encoding (the
// file has compressed variants).
func (rep *Representation) Vary() bool { return rep.hdr.vary != nil }

// Representations returns every representation of f, identity first.
func (f *File) Representations() []*Representation {
	reps := make([]*Representation, len(f.reps))
	for i := range f.reps {
		reps[i] = &f.reps[i]
	}
	return reps
}

// Size returns the size in bytes of the file's body in the given encoding
// ("", "gzip" or "br"), falling back to identity when there is no such
// variant, as a client asking for it would be served.
func (f *File) Size(encoding string) int {
	return len(f.pick(encoding).body)
}

// Body returns the identity content. The caller must not modify it.
func (f *File) Body() []byte { return f.reps[0].body }

func (f *File) pick(encoding string) *Representation {
	for i := range f.reps {
		if f.reps[i].encoding == encoding {
			return &f.reps[i]
		}
	}
	return &f.reps[0]
}

// Set is the whole UI: every File by URL path. It is safe for concurrent use.
type Set struct {
	files map[string]*File
	// bySource maps a source path to its File.
	bySource map[string]*File
}

// Lookup returns the file served at urlPath.
func (s *Set) Lookup(urlPath string) (*File, bool) {
	f, ok := s.files[urlPath]
	return f, ok
}

// Files returns every file sorted by URL path.
func (s *Set) Files() []*File {
	out := make([]*File, 0, len(s.files))
	for _, f := range s.files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URLPath < out[j].URLPath })
	return out
}

// Closure returns the file served at urlPath and every file it references,
// directly or not: what a browser loads for that document, without fetches
// the scripts make at run time. The first element is the file itself.
func (s *Set) Closure(urlPath string) []*File {
	root, ok := s.files[urlPath]
	if !ok {
		return nil
	}
	seen := map[string]bool{root.Source: true}
	out := []*File{root}
	for i := 0; i < len(out); i++ {
		for _, d := range out[i].deps {
			if !seen[d] {
				seen[d] = true
				out = append(out, s.bySource[d])
			}
		}
	}
	return out
}

// Build reads every regular file of fsys and returns the servable set.
// HTML documents (*.html) keep their path; every other file is served under
// Prefix with its content hash in the name. References to other files of the
// tree are rewritten: quoted strings in HTML and JavaScript and url(...) in
// CSS that name a file of the tree, relative to the referencing file ("./x.js",
// "../x.css") or to the root ("/x.js"). A relative reference to a missing file
// and a cycle of references are errors. Each HTML document also gets a
// <link rel="modulepreload"> for every module its scripts import, so a browser
// fetches them in parallel instead of one import level at a time.
func Build(fsys fs.FS) (*Set, error) {
	src := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		src[p] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read assets: %w", err)
	}

	refs := map[string][]ref{}
	for p, b := range src {
		rs, err := findRefs(p, b, src)
		if err != nil {
			return nil, err
		}
		refs[p] = rs
	}
	order, err := topoSort(src, refs)
	if err != nil {
		return nil, err
	}

	set := &Set{files: map[string]*File{}, bySource: map[string]*File{}}
	for _, p := range order {
		body := rewrite(src[p], refs[p], set.bySource)
		deps := uniqueTargets(refs[p])
		isDoc := path.Ext(p) == ".html"
		if isDoc {
			body = addModulePreloads(body, p, deps, set)
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:])[:12]
		f := &File{Source: p, ContentType: contentType(p), Immutable: !isDoc, deps: deps}
		if isDoc {
			f.URLPath = "/" + p
		} else {
			ext := path.Ext(p)
			f.URLPath = Prefix + strings.TrimSuffix(p, ext) + "." + hash + ext
		}
		// The identity body now; compressed variants below, in parallel.
		f.reps = []Representation{{body: body, etag: hash}}
		set.files[f.URLPath] = f
		set.bySource[p] = f
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(order))
	for _, f := range set.files {
		wg.Go(func() {
			reps, err := representations(f.reps[0].body, f.reps[0].etag, f)
			if err != nil {
				errs <- fmt.Errorf("compress %s: %w", f.Source, err)
				return
			}
			f.reps = reps
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return set, nil
}

// ref is one reference found in a file: the byte range of the string to
// replace and the source path it resolves to.
type ref struct {
	start, end int
	target     string
}

var (
	// quoted matches a quoted path ending in an asset extension.
	quoted = regexp.MustCompile(`["']((?:\.{1,2}/|/)[A-Za-z0-9_./-]+\.(?:js|mjs|css|svg|png|ico|webp|woff2|json|webmanifest|txt))["']`)
	// cssURL matches url(...) in a style sheet, quoted or not.
	cssURL = regexp.MustCompile(`url\(\s*["']?([^"')\s]+)["']?\s*\)`)
)

func findRefs(p string, b []byte, src map[string][]byte) ([]ref, error) {
	var re *regexp.Regexp
	switch path.Ext(p) {
	case ".html", ".js", ".mjs":
		re = quoted
	case ".css":
		re = cssURL
	default:
		return nil, nil
	}
	var out []ref
	for _, m := range re.FindAllSubmatchIndex(b, -1) {
		s := string(b[m[2]:m[3]])
		if strings.Contains(s, "://") || strings.HasPrefix(s, "data:") || strings.HasPrefix(s, "#") {
			continue
		}
		var target string
		if strings.HasPrefix(s, "/") {
			target = strings.TrimPrefix(path.Clean(s), "/")
		} else {
			target = path.Join(path.Dir(p), s)
		}
		if _, ok := src[target]; !ok || target == p {
			if strings.HasPrefix(s, ".") {
				return nil, fmt.Errorf("assets: %s refers to %q, which is not in the tree", p, s)
			}
			continue // an absolute path that is not an asset, e.g. an API route
		}
		out = append(out, ref{start: m[2], end: m[3], target: target})
	}
	return out, nil
}

// topoSort orders files so that every file comes after the files it refers
// to, which must be fingerprinted first.
func topoSort(src map[string][]byte, refs map[string][]ref) ([]string, error) {
	names := make([]string, 0, len(src))
	for p := range src {
		names = append(names, p)
	}
	sort.Strings(names)
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var order, stack []string
	var visit func(string) error
	visit = func(p string) error {
		switch state[p] {
		case done:
			return nil
		case visiting:
			i := slices.Index(stack, p)
			return fmt.Errorf("assets: reference cycle %s; content hashes need an acyclic graph", strings.Join(append(stack[i:], p), " -> "))
		}
		state[p] = visiting
		stack = append(stack, p)
		for _, t := range uniqueTargets(refs[p]) {
			if err := visit(t); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[p] = done
		order = append(order, p)
		return nil
	}
	for _, p := range names {
		if err := visit(p); err != nil {
			return nil, err
		}
	}
	return order, nil
}

func uniqueTargets(rs []ref) []string {
	var out []string
	for _, r := range rs {
		if !slices.Contains(out, r.target) {
			out = append(out, r.target)
		}
	}
	return out
}

func rewrite(b []byte, rs []ref, done map[string]*File) []byte {
	var out bytes.Buffer
	last := 0
	for _, r := range rs {
		out.Write(b[last:r.start])
		out.WriteString(done[r.target].URLPath)
		last = r.end
	}
	out.Write(b[last:])
	return out.Bytes()
}

// addModulePreloads inserts, before </head>, a modulepreload link for every
// JavaScript module the document's scripts import indirectly.
func addModulePreloads(doc []byte, p string, deps []string, set *Set) []byte {
	seen := map[string]bool{}
	var links []string
	var walk func(string, bool)
	walk = func(src string, direct bool) {
		if seen[src] {
			return
		}
		seen[src] = true
		f := set.bySource[src]
		if ext := path.Ext(src); ext != ".js" && ext != ".mjs" {
			return
		}
		if !direct {
			links = append(links, `<link rel="modulepreload" href="`+f.URLPath+`">`)
		}
		for _, d := range f.deps {
			walk(d, false)
		}
	}
	for _, d := range deps {
		walk(d, true)
	}
	if len(links) == 0 {
		return doc
	}
	i := bytes.Index(doc, []byte("</head>"))
	if i < 0 {
		return doc
	}
	ins := strings.Join(links, "\n") + "\n"
	return slices.Concat(doc[:i], []byte(ins), doc[i:])
}

var types = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".svg":         "image/svg+xml",
	".json":        "application/json",
	".webmanifest": "application/manifest+json",
	".txt":         "text/plain; charset=utf-8",
	".png":         "image/png",
	".webp":        "image/webp",
	".ico":         "image/vnd.microsoft.icon",
	".woff2":       "font/woff2",
}

// contentType is fixed for the extensions the UI uses, so it does not depend
// on the host's MIME tables (a scratch image has none).
func contentType(p string) string {
	ext := path.Ext(p)
	if t, ok := types[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

func compressible(ct string) bool {
	return strings.HasPrefix(ct, "text/") || strings.HasPrefix(ct, "image/svg") ||
		strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "application/manifest")
}

func representations(body []byte, hash string, f *File) ([]Representation, error) {
	bodies := []struct {
		enc string
		b   []byte
	}{{encIdentity, body}}
	if compressible(f.ContentType) {
		gz, err := gzipBytes(body)
		if err != nil {
			return nil, err
		}
		br, err := brotliBytes(body)
		if err != nil {
			return nil, err
		}
		// Variants in preference order; one is kept only when it is smaller.
		for _, v := range []struct {
			enc string
			b   []byte
		}{{encBrotli, br}, {encGzip, gz}} {
			if len(v.b) < len(body) {
				bodies = append(bodies, v)
			}
		}
	}
	cache := CacheDocument
	if f.Immutable {
		cache = CacheImmutable
	}
	var vary []string
	if len(bodies) > 1 {
		vary = []string{"Accept-Encoding"}
	}
	reps := make([]Representation, len(bodies))
	for i, v := range bodies {
		etag := `"` + hash + `"`
		var enc []string
		if v.enc != encIdentity {
			etag = `"` + hash + "-" + v.enc + `"`
			enc = []string{v.enc}
		}
		reps[i] = Representation{encoding: v.enc, body: v.b, etag: etag, hdr: header{
			contentType:     []string{f.ContentType},
			cacheControl:    []string{cache},
			etag:            []string{etag},
			contentLength:   []string{strconv.Itoa(len(v.b))},
			contentEncoding: enc,
			vary:            vary,
		}}
	}
	return reps, nil
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// brotliLevel is brotli's best: with the window fitted to each file, the
// whole UI compresses in about 0.1 s at start-up (`frontend export-assets`
// prints the sizes), and the first view is 9% smaller than at level 9.
const brotliLevel = 11

func brotliBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	// A window no larger than the file compresses it as well as the default
	// 4 MiB one, and the encoder's tables, sized by the window, stay small:
	// start-up peaks at tens of MB instead of hundreds.
	lgwin := 10
	for lgwin < 24 && 1<<lgwin-16 < len(b) {
		lgwin++
	}
	bw := brotli.NewWriterOptions(&buf, brotli.WriterOptions{Quality: brotliLevel, LGWin: lgwin})
	if _, err := bw.Write(b); err != nil {
		return nil, err
	}
	if err := bw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
