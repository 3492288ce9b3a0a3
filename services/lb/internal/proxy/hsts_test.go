package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Every answer over HTTPS tells the browser to use HTTPS only, the lb's
// own errors included; plain HTTP answers never carry it (RFC 6797 8.1:
// browsers ignore it there).
func TestHSTSOnEveryHTTPSAnswer(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1, edge: EdgeOptions{HSTS: "max-age=31536000"}})
	tlsSrv := httptest.NewTLSServer(h.handler)
	t.Cleanup(tlsSrv.Close)
	plain := h.server()
	for _, tt := range []struct {
		name   string
		client *http.Client
		url    string
		want   string
	}{
		{"HTTPS, from a backend", tlsSrv.Client(), tlsSrv.URL + "/api/items", "max-age=31536000"},
		{"HTTPS, the lb's own 404", tlsSrv.Client(), tlsSrv.URL + "/metrics", "max-age=31536000"},
		{"plain HTTP", plain.Client(), plain.URL + "/api/items", ""},
	} {
		resp, err := tt.client.Get(tt.url)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); got != tt.want {
			t.Errorf("%s: Strict-Transport-Security %q, want %q", tt.name, got, tt.want)
		}
	}
}
