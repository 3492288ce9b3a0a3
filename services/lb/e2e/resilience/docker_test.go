package resilience_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// project is the compose project and swarm stack name of every pattern.
const project = "docker_examples"

// env is the running pattern and how to reach it.
type env struct {
	pattern     string
	lbURL       string
	adminURL    string
	lbContainer string
	load        loadConfig
	maxLatency  time.Duration
}

// setup skips unless RESILIENCE_PATTERN is pattern, and reads the rest of
// the configuration.
func setup(t *testing.T, pattern string) env {
	t.Helper()
	got := os.Getenv("RESILIENCE_PATTERN")
	if got != pattern {
		t.Skipf("RESILIENCE_PATTERN=%q: set it to %s to run this against a running %s (scripts/resilience.sh %s)", got, pattern, pattern, pattern)
	}
	e := env{pattern: pattern, lbURL: strings.TrimSuffix(getenv("RESILIENCE_LB_URL", "https://127.0.0.1:443"), "/")}
	rate, err := strconv.ParseFloat(getenv("RESILIENCE_RATE", "120"), 64)
	if err != nil || rate <= 0 {
		t.Fatalf("RESILIENCE_RATE: %q is not a positive number", os.Getenv("RESILIENCE_RATE"))
	}
	workers, err := strconv.Atoi(getenv("RESILIENCE_WORKERS", "16"))
	if err != nil || workers <= 0 {
		t.Fatalf("RESILIENCE_WORKERS: %q is not a positive integer", os.Getenv("RESILIENCE_WORKERS"))
	}
	e.load = loadConfig{base: e.lbURL, apiKey: os.Getenv("RESILIENCE_API_KEY"), rate: rate, workers: workers, timeout: 30 * time.Second}
	if e.load.apiKey == "" {
		t.Logf("RESILIENCE_API_KEY is not set: api requests are anonymous and limited by RATE_LIMIT per client address")
	}
	e.maxLatency, err = time.ParseDuration(getenv("RESILIENCE_MAX_LATENCY", "4s"))
	if err != nil || e.maxLatency <= 0 {
		t.Fatalf("RESILIENCE_MAX_LATENCY: %q is not a positive duration", os.Getenv("RESILIENCE_MAX_LATENCY"))
	}
	lb := lbContainer(t)
	e.lbContainer = lb.ID
	e.adminURL = strings.TrimSuffix(os.Getenv("RESILIENCE_ADMIN_URL"), "/")
	if e.adminURL == "" {
		e.adminURL = findAdminURL(t, lb)
	}
	return e
}

// skipOutsideCI skips t, except under CI=true, where a check that cannot
// run is a failure.
func skipOutsideCI(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// docker runs the Docker CLI and returns its standard output, trimmed.
func docker(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// mustDocker is docker that ends the test on failure.
func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := docker(t.Context(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// container is the part of `docker inspect` the checks read.
type container struct {
	ID    string
	Name  string
	State struct {
		Status     string
		Running    bool
		Pid        int
		StartedAt  time.Time
		FinishedAt time.Time
		ExitCode   int
		Health     *struct{ Status string }
	}
	RestartCount    int
	NetworkSettings struct {
		Networks map[string]struct{ IPAddress string }
	}
	Config struct {
		Labels map[string]string
	}
}

// health is the container's health status, or "none".
func (c container) health() string {
	if c.State.Health == nil {
		return "none"
	}
	return c.State.Health.Status
}

// ip is the container's address on network.
func (c container) ip(network string) string {
	return c.NetworkSettings.Networks[network].IPAddress
}

func inspect(ctx context.Context, id string) (container, error) {
	out, err := docker(ctx, "inspect", "--type", "container", id)
	if err != nil {
		return container{}, err
	}
	var cs []container
	if err := json.Unmarshal([]byte(out), &cs); err != nil || len(cs) != 1 {
		return container{}, fmt.Errorf("docker inspect %s: %d results, %v", id, len(cs), err)
	}
	cs[0].Name = strings.TrimPrefix(cs[0].Name, "/")
	return cs[0], nil
}

func mustInspect(t *testing.T, id string) container {
	t.Helper()
	c, err := inspect(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// running lists the running containers with every label given, sorted
// by name.
func running(t *testing.T, labels ...string) []container {
	t.Helper()
	args := []string{"ps", "-q", "--no-trunc"}
	for _, l := range labels {
		args = append(args, "--filter", "label="+l)
	}
	var cs []container
	for _, id := range strings.Fields(mustDocker(t, args...)) {
		c, err := inspect(t.Context(), id)
		if err != nil {
			continue // gone in between
		}
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	return cs
}

// lbContainer is the pattern's (first) running lb container.
func lbContainer(t *testing.T) container {
	t.Helper()
	lbs := running(t, "com.docker.compose.project="+project, "com.docker.compose.service=lb")
	if len(lbs) == 0 {
		lbs = running(t, "com.docker.stack.namespace="+project, "com.docker.swarm.service.name="+project+"_lb")
	}
	if len(lbs) == 0 {
		t.Fatal("no running lb container: start the pattern first")
	}
	return lbs[0]
}

// lbRetried counts the api requests the lb answered since t after trying
// more than one backend, from its access log (one JSON line per request,
// with "attempts" when there was more than one).
func (e env) lbRetried(t *testing.T, since time.Time) int {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "docker", "logs", "--since", since.UTC().Format(time.RFC3339Nano), e.lbContainer).Output()
	if err != nil {
		t.Fatalf("docker logs %s: %v", e.lbContainer, err)
	}
	n := 0
	for _, line := range bytes.Split(out, []byte("\n")) {
		var l struct {
			Msg      string
			Pool     string
			Attempts int
		}
		if json.Unmarshal(line, &l) == nil && l.Msg == "request" && l.Pool == "api" && l.Attempts > 1 {
			n++
		}
	}
	return n
}

// findAdminURL finds the lb's admin listener (port 9090, never published)
// at the lb container's address on a network this host can reach: the
// cluster's bridge network, or in a swarm the docker_gwbridge network
// that every task with published ports is attached to.
func findAdminURL(t *testing.T, lb container) string {
	t.Helper()
	var tried []string
	for _, ip := range lbAddresses(t, lb) {
		u := "http://" + ip + ":9090"
		if _, err := fetchStatus(t.Context(), u); err == nil {
			return u
		}
		tried = append(tried, u)
	}
	t.Fatalf("the lb's admin listener answers on none of %v: set RESILIENCE_ADMIN_URL", tried)
	return ""
}

// lbAddresses lists c's addresses: on its own networks, then on the
// docker_gwbridge network of a swarm.
func lbAddresses(t *testing.T, c container) []string {
	t.Helper()
	var ips []string
	for _, n := range c.NetworkSettings.Networks {
		if n.IPAddress != "" {
			ips = append(ips, n.IPAddress)
		}
	}
	out, err := docker(t.Context(), "network", "inspect", "docker_gwbridge", "--format", "{{json .Containers}}")
	if err == nil {
		var eps map[string]struct{ IPv4Address string }
		if json.Unmarshal([]byte(out), &eps) == nil {
			if ep, ok := eps[c.ID]; ok {
				ip, _, _ := strings.Cut(ep.IPv4Address, "/")
				ips = append(ips, ip)
			}
		}
	}
	return ips
}
