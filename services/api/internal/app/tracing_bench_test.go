package app

// What tracing costs the api, measured in one run: the whole service as
// main wires it (real PostgreSQL and Redis, real HTTP), first with tracing
// off, then exporting every span over OTLP/HTTP to a sink in this process
// that reads and drops what it is sent, then with the default sampler.
//
//	GOTOOLCHAIN=auto go test -run '^$' -bench Tracing -benchtime 1000x -cpu 1 ./services/api/internal/app
//
// Each scenario (a cached read, a cached list page) runs five rounds of
// the modes off, all (OTEL_TRACES_SAMPLER=always_on) and default (the
// sampler unset: parentbased_traceidratio at telemetry.DefaultSampleRatio);
// BENCH_TRACING_MODES=off,all picks some, to profile one with
// -cpuprofile. Each run starts an instance, sends b.N requests one after
// another and stops it (which flushes the spans); its CPU time is the
// process's (api, the in-process client and the sink) from the first
// request until the instance stopped and its garbage was collected. -cpu 1
// (GOMAXPROCS=1) keeps idle threads from spinning into the figure.
// Reported: CPU µs and heap allocations per request of each mode (the
// allocations are steady where the CPU time swings with the machine's
// load) and each mode's CPU ratio to off,
// medians of the rounds, with the lowest and highest round's ratio; and
// the OTLP bytes exported per request.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-examples/stack/platform/benchcpu"
	"github.com/docker-examples/stack/platform/servetest"
	"github.com/docker-examples/stack/services/api/internal/pgtest"
	"github.com/docker-examples/stack/services/api/internal/redistest"
)

// rounds of each mode per scenario; the figures are their medians.
const rounds = 5

func BenchmarkTracing(b *testing.B) {
	dbURL, redisURL := pgtest.URL(b), redistest.URL(b)
	keys := b.TempDir() + "/keys"
	if err := os.WriteFile(keys, []byte(wireKey+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	var sunk atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		sunk.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK) // an empty ExportTraceServiceResponse
	}))
	defer sink.Close()
	env := func(mode string) map[string]string {
		e := map[string]string{
			"PORT": "0", "DATABASE_URL": dbURL, "REDIS_URL": redisURL, "INSTANCE_ID": "bench",
			"API_KEYS_FILE": keys, "SHUTDOWN_DRAIN": "0s", "ENRICH": "off", "RATE_LIMIT": "1000000/m",
			"LOG_LEVEL": "info",
		}
		switch mode {
		case "all":
			e["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.URL
			e["OTEL_TRACES_SAMPLER"] = "always_on"
		case "default":
			e["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.URL
		}
		return e
	}

	// One item to read, and a page of twenty to list.
	base, done, stop := servetest.Start(b, Run, env("off"))
	var id string
	for i := range 20 {
		it := createItemTB(b, base, fmt.Sprintf("bench-%02d", i))
		id = it.ID
	}
	stop()
	<-done

	for _, sc := range []struct{ name, path string }{
		{"get", "/api/inventory/" + id},
		{"list", "/api/inventory?limit=20"},
	} {
		b.Run(sc.name, func(b *testing.B) {
			modes := []string{"off", "all", "default"}
			if m := os.Getenv("BENCH_TRACING_MODES"); m != "" { // e.g. "default" alone, to profile it
				modes = strings.Split(m, ",")
			}
			cpu := map[string][]float64{}    // µs per request, one per round
			allocs := map[string][]float64{} // heap allocations per request
			sent := map[string]int64{}
			for round := range rounds {
				// Each round starts with another mode, so that a drift of
				// the machine's load does not favour one.
				for i := range modes {
					mode := modes[(round+i)%len(modes)]
					before := sunk.Load()
					c, a := perRequest(b, env(mode), sc.path, b.N)
					cpu[mode], allocs[mode] = append(cpu[mode], c), append(allocs[mode], a)
					sent[mode] += sunk.Load() - before
				}
			}
			if _, ok := cpu["all"]; ok && sent["all"] == 0 {
				b.Fatal("tracing on: the sink received nothing")
			}
			for _, mode := range modes {
				b.ReportMetric(median(cpu[mode]), "cpu-µs/req-"+mode)
				b.ReportMetric(median(allocs[mode]), "allocs/req-"+mode)
			}
			for _, mode := range modes {
				if _, ok := cpu["off"]; !ok || mode == "off" {
					continue
				}
				ratios := make([]float64, len(cpu[mode]))
				for i := range ratios {
					ratios[i] = cpu[mode][i] / cpu["off"][i]
				}
				b.ReportMetric(median(ratios), mode+"/off")
				b.ReportMetric(slices.Min(ratios), mode+"/off-min")
				b.ReportMetric(slices.Max(ratios), mode+"/off-max")
			}
			for _, mode := range modes {
				if mode != "off" {
					b.ReportMetric(float64(sent[mode])/float64(rounds*b.N), "otlp-bytes/req-"+mode)
				}
			}
		})
	}
}

// perRequest starts an instance with env, sends n GETs of path one after
// another, stops it, and returns the process's CPU time (µs) and heap
// allocations per request from the first request until the instance had
// stopped.
func perRequest(b *testing.B, env map[string]string, path string, n int) (cpuMicros, allocs float64) {
	b.Helper()
	base, done, stop := servetest.Start(b, Run, env)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	get := func() {
		resp, err := client.Get(base + path)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s = %d", path, resp.StatusCode)
		}
	}
	for range 50 { // warm: connections, the cache
		get()
	}
	runtime.GC() // the garbage of the runs before is not this run's
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs := ms.Mallocs
	start := benchcpu.Used()
	for range n {
		get()
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			b.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		b.Fatal("instance did not stop")
	}
	runtime.GC() // this run's garbage is
	cpu := benchcpu.Used() - start
	runtime.ReadMemStats(&ms)
	return float64(cpu.Microseconds()) / float64(n), float64(ms.Mallocs-mallocs) / float64(n)
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

// createItemTB is createItem for a benchmark.
func createItemTB(tb testing.TB, base, name string) item {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/inventory",
		strings.NewReader(fmt.Sprintf(`{"name":%q,"image":"redis:7"}`, name)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", wireKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		tb.Fatalf("create %s = %d %s", name, resp.StatusCode, body)
	}
	var it item
	if err := json.NewDecoder(resp.Body).Decode(&it); err != nil {
		tb.Fatal(err)
	}
	return it
}
