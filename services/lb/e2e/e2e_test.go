// Package e2e_test checks the running cluster through its load balancer.
// It runs only when E2E_LB_URL names the lb (e.g. https://127.0.0.1, after
// `make cluster`, with SSL_CERT_FILE naming the CA of its certificate,
// deploy/secrets/tls_ca.pem: scripts/e2e.sh cluster sets both).
package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func lbURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("E2E_LB_URL")
	if u == "" {
		t.Skip("E2E_LB_URL not set: start the cluster (make cluster) and set it, e.g. https://127.0.0.1")
	}
	return strings.TrimSuffix(u, "/")
}

var client = &http.Client{Timeout: 10 * time.Second}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp, b
}

func TestAllThreeAPIReplicasAnswer(t *testing.T) {
	base := lbURL(t)
	seen := map[string]int{}
	deadline := time.Now().Add(60 * time.Second) // replicas may still be joining
	for len(seen) < 3 && time.Now().Before(deadline) {
		resp, body := get(t, base+"/api/status")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/status = %d: %s", resp.StatusCode, body)
		}
		if resp.Header.Get("X-Served-By") == "" {
			t.Errorf("response without X-Served-By")
		}
		var st struct {
			InstanceID string `json:"instance_id"`
		}
		if err := json.Unmarshal(body, &st); err != nil || st.InstanceID == "" {
			t.Fatalf("GET /api/status: no instance_id in %s (%v)", body, err)
		}
		seen[st.InstanceID]++
	}
	if len(seen) < 3 {
		t.Errorf("api instances seen through the lb: %v, want 3", seen)
	}
}

func TestRoutingThroughTheLB(t *testing.T) {
	base := lbURL(t)
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/health", 200},  // the lb's own
		{"/metrics", 404}, // never the backends'
		{"/api/../metrics", 404},
		{"/openapi.json", 200}, // api pool
		{"/", 200},             // frontend pool
	} {
		resp, body := get(t, base+tt.path)
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s = %d, want %d (%.200s)", tt.path, resp.StatusCode, tt.want, body)
		}
	}
}

func TestRequestIDIsPassedOn(t *testing.T) {
	base := lbURL(t)
	req, _ := http.NewRequest("GET", base+"/api/status", nil)
	req.Header.Set("X-Request-ID", "e2e-lb-1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Correlation-ID"); got != "e2e-lb-1" {
		t.Errorf("X-Correlation-ID = %q, want the id we sent (the api echoes what the lb passed on)", got)
	}
}
