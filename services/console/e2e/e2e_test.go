// Package e2e follows one request through the cluster with the
// observability profile running (make e2e-observability): a known
// traceparent sent to the lb comes back as one trace in the trace store
// whose spans cover lb, api, Redis and (on a cache miss) PostgreSQL; the
// request's log lines are found in the log store by its trace_id; the
// metrics store answers for the api's request rate; and the console shows
// the trace in a browser (a screenshot is written to E2E_SCREENSHOT_DIR).
//
// The targets come from E2E_LB_URL, E2E_API_KEY and E2E_OBS_{CONSOLE,
// TRACES,LOGS,METRICS}_URL; without E2E_OBS_CONSOLE_URL every test skips.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

type targets struct {
	lb, key, console, traces, logs, metrics string
}

func env(t *testing.T) targets {
	t.Helper()
	tg := targets{
		lb: os.Getenv("E2E_LB_URL"), key: os.Getenv("E2E_API_KEY"),
		console: os.Getenv("E2E_OBS_CONSOLE_URL"), traces: os.Getenv("E2E_OBS_TRACES_URL"),
		logs: os.Getenv("E2E_OBS_LOGS_URL"), metrics: os.Getenv("E2E_OBS_METRICS_URL"),
	}
	if tg.console == "" {
		t.Skip("E2E_OBS_CONSOLE_URL is not set: run make e2e-observability")
	}
	if tg.lb == "" || tg.key == "" || tg.traces == "" || tg.logs == "" || tg.metrics == "" {
		t.Fatal("E2E_OBS_CONSOLE_URL is set but not E2E_LB_URL, E2E_API_KEY and E2E_OBS_{TRACES,LOGS,METRICS}_URL")
	}
	return tg
}

var client = &http.Client{Timeout: 10 * time.Second}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func do(t *testing.T, method, u string, body any, header map[string]string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// eventually calls f until it returns true or the deadline passes; the
// stores take seconds to see new data (batched exports, scrape interval).
func eventually(t *testing.T, what string, timeout time.Duration, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := f()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last seen: %s", what, timeout, last)
		}
		time.Sleep(time.Second)
	}
}

// jaegerTrace is the part of Jaeger's /api/traces/{id} answer the test reads.
type jaegerTrace struct {
	Data []struct {
		Spans []struct {
			SpanID        string `json:"spanID"`
			OperationName string `json:"operationName"`
			ProcessID     string `json:"processID"`
			Tags          []struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			} `json:"tags"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	} `json:"data"`
}

// coverage lists what a trace's spans cover: service names, and
// "db:<system>" for each database client span.
func coverage(tr jaegerTrace) []string {
	var out []string
	for _, d := range tr.Data {
		for _, s := range d.Spans {
			out = append(out, d.Processes[s.ProcessID].ServiceName)
			for _, tag := range s.Tags {
				if tag.Key == "db.system" || tag.Key == "db.system.name" {
					out = append(out, fmt.Sprint("db:", tag.Value))
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestOneRequestFollowedThroughTheStores(t *testing.T) {
	tg := env(t)
	key := map[string]string{"X-API-Key": tg.key}
	code, body := do(t, "POST", tg.lb+"/api/inventory", map[string]any{
		"name": "obs-e2e-" + randomHex(4), "image": "postgres:17-alpine", "description": "observability e2e",
	}, key)
	if code != http.StatusCreated {
		t.Fatalf("create: got %d %s", code, body)
	}
	var item struct{ ID string }
	_ = json.Unmarshal(body, &item)
	t.Cleanup(func() { do(t, "DELETE", tg.lb+"/api/inventory/"+item.ID, nil, key) })

	// The first read misses the cache (PostgreSQL, then Redis is filled);
	// the second is answered from Redis.
	miss, hit := randomHex(16), randomHex(16)
	for _, tid := range []string{miss, hit} {
		code, body := do(t, "GET", tg.lb+"/api/inventory/"+item.ID, nil,
			map[string]string{"traceparent": "00-" + tid + "-" + randomHex(8) + "-01"})
		if code != http.StatusOK {
			t.Fatalf("read: got %d %s", code, body)
		}
	}

	for _, tc := range []struct {
		tid  string
		want []string
	}{
		{miss, []string{"api", "db:postgresql", "db:redis", "lb"}},
		{hit, []string{"api", "db:redis", "lb"}},
	} {
		eventually(t, "trace "+tc.tid+" in the trace store", 60*time.Second, func() (bool, string) {
			code, body := do(t, "GET", tg.traces+"/api/traces/"+tc.tid, nil, nil)
			if code != http.StatusOK {
				return false, fmt.Sprintf("%d %.200s", code, body)
			}
			var tr jaegerTrace
			if err := json.Unmarshal(body, &tr); err != nil || len(tr.Data) != 1 {
				return false, fmt.Sprintf("%d traces, %v", len(tr.Data), err)
			}
			got := coverage(tr)
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					return false, fmt.Sprintf("spans cover %v, want %v", got, tc.want)
				}
			}
			return true, ""
		})
	}

	// The log lines of the read that missed, by trace_id: the lb's access
	// line and the api's request line at least.
	eventually(t, "log lines of trace "+miss, 60*time.Second, func() (bool, string) {
		q := url.Values{"query": {`"` + miss + `"`}, "limit": {"100"}}
		code, body := do(t, "GET", tg.logs+"/select/logsql/query?"+q.Encode(), nil, nil)
		if code != http.StatusOK {
			return false, fmt.Sprintf("%d %.200s", code, body)
		}
		var services []string
		for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
			var row struct {
				Msg string `json:"_msg"`
			}
			var rec struct {
				Service string `json:"service"`
				TraceID string `json:"trace_id"`
			}
			if json.Unmarshal(line, &row) != nil || json.Unmarshal([]byte(row.Msg), &rec) != nil || rec.TraceID != miss {
				continue
			}
			services = append(services, rec.Service)
		}
		ok := slices.Contains(services, "lb") && slices.Contains(services, "api")
		return ok, fmt.Sprintf("lines from %v", services)
	})

	eventually(t, "the api's request rate in the metrics store", 90*time.Second, func() (bool, string) {
		q := url.Values{"query": {"sum(rate(api_http_requests_total[1m]))"}}
		code, body := do(t, "GET", tg.metrics+"/api/v1/query?"+q.Encode(), nil, nil)
		var ans struct {
			Data struct {
				Result []struct {
					Value []any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &ans) != nil || len(ans.Data.Result) == 0 {
			return false, fmt.Sprintf("%d %.200s", code, body)
		}
		v := fmt.Sprint(ans.Data.Result[0].Value[1])
		return v != "0", "rate " + v
	})

	t.Run("console", func(t *testing.T) { consoleShowsTrace(t, tg, miss) })
}

// The metrics store scrapes every service: each scrape job (api,
// frontend, lb, the stores themselves) has targets, and every target is up.
func TestEveryServiceScraped(t *testing.T) {
	tg := env(t)
	want := []string{"api", "frontend", "lb", "observability"}
	eventually(t, "every scrape target up", 90*time.Second, func() (bool, string) {
		q := url.Values{"query": {"up"}}
		code, body := do(t, "GET", tg.metrics+"/api/v1/query?"+q.Encode(), nil, nil)
		var ans struct {
			Data struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
					Value  []any             `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &ans) != nil {
			return false, fmt.Sprintf("%d %.200s", code, body)
		}
		var jobs, down []string
		for _, r := range ans.Data.Result {
			jobs = append(jobs, r.Metric["job"])
			if len(r.Value) != 2 || fmt.Sprint(r.Value[1]) != "1" {
				down = append(down, r.Metric["job"]+" "+r.Metric["instance"])
			}
		}
		slices.Sort(jobs)
		jobs = slices.Compact(jobs)
		for _, w := range want {
			if !slices.Contains(jobs, w) {
				return false, fmt.Sprintf("jobs %v, want %v", jobs, want)
			}
		}
		return len(down) == 0, fmt.Sprintf("targets down: %v", down)
	})
}

// An outsider's traceparent is not continued: the lb starts its own trace.
func TestUntrustedTraceparentNotContinued(t *testing.T) {
	tg := env(t)
	if os.Getenv("E2E_OBS_UNTRUSTED") != "1" {
		t.Skip("the test client is a trusted peer here (set E2E_OBS_UNTRUSTED=1 when the lb trusts none)")
	}
	tid := randomHex(16)
	do(t, "GET", tg.lb+"/api/inventory?limit=1", nil, map[string]string{"traceparent": "00-" + tid + "-" + randomHex(8) + "-01"})
	time.Sleep(10 * time.Second) // past the exporters' batch delay: absence cannot be polled
	if code, _ := do(t, "GET", tg.traces+"/api/traces/"+tid, nil, nil); code == http.StatusOK {
		t.Fatalf("the trace store has the outsider's trace %s", tid)
	}
}

func consoleShowsTrace(t *testing.T, tg targets, tid string) {
	exec := os.Getenv("E2E_CHROMIUM")
	if exec == "" {
		exec = "/usr/bin/chromium"
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exec), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1400, 1300),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()

	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("console: %s: %v", what, err)
		}
	}
	step("open", chromedp.Do(ctx,
		chromedp.Navigate(tg.console+"/#trace="+tid),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#trace .span`)),
	))
	spans, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#trace .span").length`))
	step("count spans", err)
	services, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#services tbody`)))
	step("services", err)
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const t = document.querySelector("#trace-logs").textContent; return t.length > 0 && !t.startsWith("no log line"); })()`))
	step("trace logs", err)
	logs, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#trace-logs`)))
	step("trace logs text", err)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	step("screenshot", err)
	if spans < 4 {
		t.Errorf("the waterfall shows %d spans, want lb, api and the database spans", spans)
	}
	for _, svc := range []string{"lb", "frontend", "api"} {
		if !strings.Contains(services, svc) {
			t.Errorf("the services table lacks %s: %q", svc, services)
		}
	}
	if !strings.Contains(logs, tid) {
		t.Errorf("the trace's log lines do not carry its id: %.300q", logs)
	}
	dir := os.Getenv("E2E_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, "observability-console.jpg")
	if err := os.WriteFile(p, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}
