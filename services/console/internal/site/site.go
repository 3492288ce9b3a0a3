// Package site is the console's HTTP handler: the embedded page, and a
// read-only proxy to each store's query API, so the page reads all three
// from its own origin. Only GET reaches a store, and only on the query
// paths listed in routes: the stores' write, delete and admin endpoints
// are not reachable through the console.
package site

import (
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

//go:embed web
var webFS embed.FS

// Config is what the handler needs.
type Config struct {
	MetricsURL, LogsURL, TracesURL *url.URL // the stores, as http://host:port
	// Links are the stores' own UIs as a browser reaches them, shown on the
	// page; a missing one is not shown.
	Links map[string]string
	Log   *slog.Logger
}

// store is one proxied store: requests under prefix go to target, with
// the prefix taken off, when their remaining path is allowed.
type store struct {
	prefix  string
	target  *url.URL
	allowed func(path string) bool
}

// New returns the console's handler. It is safe for concurrent use.
func New(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	links := cfg.Links
	if links == nil {
		links = map[string]string{}
	}
	mux.HandleFunc("GET /links.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(links)
	})
	stores := []store{
		{"/store/metrics", cfg.MetricsURL, oneOf("/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels")},
		{"/store/logs", cfg.LogsURL, oneOf("/select/logsql/query", "/select/logsql/hits")},
		{"/store/traces", cfg.TracesURL, func(p string) bool {
			if p == "/api/traces" || p == "/api/services" {
				return true
			}
			id, ok := strings.CutPrefix(p, "/api/traces/")
			return ok && isHex(id)
		}},
	}
	for _, s := range stores {
		mux.Handle("GET "+s.prefix+"/", proxy(s, cfg.Log))
	}
	sub, _ := fs.Sub(webFS, "web")
	mux.Handle("GET /", http.FileServerFS(sub))
	return securityHeaders(mux)
}

func oneOf(paths ...string) func(string) bool {
	return func(p string) bool {
		for _, q := range paths {
			if p == q {
				return true
			}
		}
		return false
	}
}

func isHex(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func proxy(s store, log *slog.Logger) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(s.target)
			r.Out.URL.Path = strings.TrimPrefix(r.In.URL.Path, s.prefix)
			r.Out.URL.RawPath = ""
			r.Out.Header.Del("Cookie")
			r.Out.Header.Del("Authorization")
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if log != nil {
				log.Warn("store unreachable", "store", s.prefix, "error", err.Error())
			}
			http.Error(w, "store unreachable: "+s.target.Host, http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, s.prefix)
		if !s.allowed(rest) {
			http.Error(w, "not a query path of this store", http.StatusNotFound)
			return
		}
		rp.ServeHTTP(w, r)
	})
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}
