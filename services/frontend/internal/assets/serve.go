package assets

import (
	"errors"
	"net/http"
	"strings"
)

// ErrNotFound means no file is served at the requested path.
var ErrNotFound = errors.New("assets: not found")

// ServeAsset serves the fingerprinted asset named by r.URL.Path, or returns
// ErrNotFound, leaving w untouched.
func (s *Set) ServeAsset(w http.ResponseWriter, r *http.Request) error {
	f, ok := s.files[r.URL.Path]
	if !ok || !f.Immutable {
		return ErrNotFound
	}
	f.Serve(w, r, http.StatusOK)
	return nil
}

// Serve writes f as the response to r, a GET or HEAD, choosing the best
// encoding the request accepts. With status 200 a request whose If-None-Match
// names the chosen representation's ETag gets 304 Not Modified; any other
// status (a 404 page) is written as is. Range requests are not supported:
// the whole body is sent, as RFC 9110 allows.
func (f *File) Serve(w http.ResponseWriter, r *http.Request, status int) {
	rep := f.Negotiate(r.Header.Get("Accept-Encoding"))
	h := w.Header()
	h["Cache-Control"] = rep.hdr.cacheControl
	h["Etag"] = rep.hdr.etag
	if rep.hdr.vary != nil {
		h["Vary"] = rep.hdr.vary
	}
	if status == http.StatusOK {
		if rep.NotModified(r.Header.Get("If-None-Match")) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h["Content-Type"] = rep.hdr.contentType
	h["Content-Length"] = rep.hdr.contentLength
	if rep.hdr.contentEncoding != nil {
		h["Content-Encoding"] = rep.hdr.contentEncoding
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(rep.body)
	}
}

// Negotiate returns the representation a request whose Accept-Encoding is
// accept gets: the preferred encoding among those f has and accept allows.
func (f *File) Negotiate(accept string) *Representation {
	if len(f.reps) == 1 {
		return &f.reps[0]
	}
	return f.pick(negotiate(accept, f))
}

// NotModified reports whether a request whose If-None-Match is inm may get
// 304 Not Modified for rep.
func (rep *Representation) NotModified(inm string) bool {
	return inm != "" && etagMatch(inm, rep.etag)
}

// negotiate picks the preferred encoding among those f has and the
// Accept-Encoding value allows: brotli, then gzip, then identity. A coding
// with q=0 is refused; "*" accepts any coding not named.
func negotiate(accept string, f *File) string {
	if accept == "" {
		return encIdentity
	}
	br, gz, star := -1, -1, -1 // -1 not named, 0 refused, 1 accepted
	for accept != "" {
		var tok string
		tok, accept, _ = strings.Cut(accept, ",")
		name, params, _ := strings.Cut(tok, ";")
		name = strings.TrimSpace(name)
		ok := 1
		if q, found := strings.CutPrefix(strings.TrimSpace(params), "q="); found && isZeroQ(q) {
			ok = 0
		}
		switch {
		case strings.EqualFold(name, encBrotli):
			br = ok
		case strings.EqualFold(name, encGzip), strings.EqualFold(name, "x-gzip"):
			gz = ok
		case name == "*":
			star = ok
		}
	}
	if br == -1 {
		br = max(star, 0)
	}
	if gz == -1 {
		gz = max(star, 0)
	}
	for _, rep := range f.reps[1:] {
		if rep.encoding == encBrotli && br == 1 || rep.encoding == encGzip && gz == 1 {
			return rep.encoding
		}
	}
	return encIdentity
}

func isZeroQ(q string) bool {
	q = strings.TrimSpace(q)
	if q == "" || q[0] != '0' {
		return false
	}
	return strings.Trim(q[1:], ".0") == ""
}

// etagMatch applies the weak comparison RFC 9110 asks for If-None-Match to a
// list of entity tags.
func etagMatch(list, etag string) bool {
	for list != "" {
		var tag string
		tag, list, _ = strings.Cut(list, ",")
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}
