package resilience_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSwarmLab makes the faults a swarm of several machines meets, on the
// swarm lab's three Docker-in-Docker nodes (scripts/swarm-lab.sh, make
// swarm-lab), with steady load through the lbs of two nodes that stay up,
// and measures what clients and Swarm do:
//
//   - worker-pause: a worker's container is frozen (docker pause), as a
//     machine that stops answering without closing a connection;
//   - worker-disconnect: a worker's network is gone (docker network
//     disconnect);
//   - worker-oneway: a worker receives nothing from the other nodes but
//     can still send (iptables DROP on its INPUT);
//   - worker-stop: a worker shuts down in order (docker stop -t 60: its
//     engine stops its tasks within their stop_grace_period, as a machine's
//     shutdown does), then starts;
//   - manager-lost: the leader of three managers shuts down the same way (a
//     lab with SWARM_LAB_MANAGERS=3);
//   - rolling-update: every api task replaced, one at a time, across nodes;
//   - drain: a worker drained for maintenance, then made active again;
//   - db-node-lost: the node that holds PostgreSQL and Redis stops: what
//     the api answers while it is away, and how long after its return it
//     serves writes again.
//
// For each: failed requests per lb, time until Swarm marked the node down,
// until the api ran its full replica count elsewhere, until each lb stopped
// sending to the lost tasks, and what the tasks on a cut-off node did.
// Every scenario but db-node-lost must see no failed request through the
// lbs of the nodes that stay up; a write every half second goes through one
// of them too, and must not fail either. Each scenario ends with a line
// starting "RESULT" (the README's table is made of those lines).
//
// It runs only when RESILIENCE_PATTERN=swarmlab; scripts/swarm-lab.sh fault
// sets that and the variables below:
//
//	SWARM_LAB_NODES     the node containers, which are also the swarm's host names
//	SWARM_LAB_DB_NODE   the node labelled docker-examples.db (PostgreSQL, Redis)
//	SWARM_LAB_NETWORK   the nodes' network
//	SWARM_LAB_LB_SCHEME https (default): the load reaches the lbs over
//	                    HTTPS, as clients do, trusting the lab's own CA
//	                    (SSL_CERT_FILE); http only with REDIRECT_HTTPS=false
//
// and RESILIENCE_RATE (per lb here, default 60), RESILIENCE_WORKERS,
// RESILIENCE_MAX_LATENCY (here 8s by default: see setupLab) and
// RESILIENCE_API_KEY as the other checks.
func TestSwarmLab(t *testing.T) {
	l := setupLab(t)
	for _, f := range labFaults {
		t.Run(f.name, func(t *testing.T) { l.scenario(t, f) })
	}
}

// labFault is one scenario: what it does to which node, and how it undoes it.
type labFault struct {
	name string
	// victim picks the node the fault hits ("" for none).
	victim func(l *lab) string
	// nodeDown: Swarm should mark the victim down.
	nodeDown bool
	// cutOff: the victim keeps running but cannot be reached; the check
	// looks at what its tasks do meanwhile.
	cutOff bool
	// managers the scenario needs.
	managers int
	// failuresExpected: failed requests are reported, not an error.
	failuresExpected bool
	// inject runs beside the watch (docker stop takes seconds); heal after it.
	inject func(ctx context.Context, l *lab, victim string) error
	heal   func(t *testing.T, l *lab, victim string)
}

var labFaults = []labFault{
	{
		name: "worker-pause", victim: (*lab).worker, nodeDown: true, cutOff: true,
		inject: func(ctx context.Context, _ *lab, v string) error { return do(ctx, "pause", v) },
		heal:   func(t *testing.T, _ *lab, v string) { mustDocker(t, "unpause", v) },
	},
	{
		name: "worker-disconnect", victim: (*lab).worker, nodeDown: true, cutOff: true,
		inject: func(ctx context.Context, l *lab, v string) error {
			return do(ctx, "network", "disconnect", l.network, v)
		},
		heal: func(t *testing.T, l *lab, v string) {
			mustDocker(t, "network", "connect", "--ip", l.ips[v], l.network, v)
		},
	},
	{
		name: "worker-oneway", victim: (*lab).worker, nodeDown: true, cutOff: true,
		inject: func(ctx context.Context, l *lab, v string) error { return l.iptables(ctx, v, "-I") },
		heal: func(t *testing.T, l *lab, v string) {
			if err := l.iptables(t.Context(), v, "-D"); err != nil {
				t.Fatal(err)
			}
		},
	},
	{
		name: "worker-stop", victim: (*lab).worker, nodeDown: true,
		inject: func(ctx context.Context, _ *lab, v string) error { return do(ctx, "stop", "-t", "60", v) },
		heal:   func(t *testing.T, _ *lab, v string) { mustDocker(t, "start", v) },
	},
	{
		name: "manager-lost", victim: (*lab).leader, nodeDown: true, managers: 3,
		inject: func(ctx context.Context, _ *lab, v string) error { return do(ctx, "stop", "-t", "60", v) },
		heal:   func(t *testing.T, _ *lab, v string) { mustDocker(t, "start", v) },
	},
	{
		name: "rolling-update", victim: func(*lab) string { return "" },
		inject: func(ctx context.Context, l *lab, _ string) error {
			_, err := l.swarm(ctx, "service", "update", "--force", "--detach=false", "--quiet", apiService)
			return err
		},
		heal: func(*testing.T, *lab, string) {},
	},
	{
		name: "drain", victim: (*lab).worker,
		inject: func(ctx context.Context, l *lab, v string) error {
			_, err := l.swarm(ctx, "node", "update", "--availability", "drain", v)
			return err
		},
		heal: func(t *testing.T, l *lab, v string) {
			if _, err := l.swarm(t.Context(), "node", "update", "--availability", "active", v); err != nil {
				t.Fatal(err)
			}
		},
	},
	{
		name: "db-node-lost", victim: func(l *lab) string { return l.dbNode }, nodeDown: true, failuresExpected: true,
		inject: func(ctx context.Context, _ *lab, v string) error { return do(ctx, "stop", "-t", "60", v) },
		heal:   func(t *testing.T, _ *lab, v string) { mustDocker(t, "start", v) },
	},
}

// lab is the running swarm lab.
type lab struct {
	nodes      []string          // node containers = swarm host names
	ips        map[string]string // node -> address on the lab's network
	dbNode     string
	network    string
	scheme     string     // how the load reaches the lbs: https (the lab's own CA in SSL_CERT_FILE), or http
	load       loadConfig // base is set per lb
	maxLatency time.Duration

	mu      sync.Mutex
	manager string            // a manager that answers
	nodeIDs map[string]string // swarm node id -> host name
	lbIPs   map[string]string // node -> its lb task's admin address (docker_gwbridge)
}

// lbURL is node n's lb as a client reaches it.
func (l *lab) lbURL(n string) string { return l.scheme + "://" + l.ips[n] }

func setupLab(t *testing.T) *lab {
	t.Helper()
	if got := os.Getenv("RESILIENCE_PATTERN"); got != "swarmlab" {
		t.Skipf("RESILIENCE_PATTERN=%q: set it to swarmlab to run this against a running swarm lab (scripts/swarm-lab.sh fault)", got)
	}
	l := &lab{
		nodes:   strings.Fields(getenv("SWARM_LAB_NODES", "swarmlab-1 swarmlab-2 swarmlab-3")),
		dbNode:  getenv("SWARM_LAB_DB_NODE", "swarmlab-2"),
		network: getenv("SWARM_LAB_NETWORK", "swarmlab-net"),
		scheme:  getenv("SWARM_LAB_LB_SCHEME", "https"),
		ips:     map[string]string{},
		nodeIDs: map[string]string{},
		lbIPs:   map[string]string{},
	}
	rate, err := strconv.ParseFloat(getenv("RESILIENCE_RATE", "60"), 64)
	if err != nil || rate <= 0 {
		t.Fatalf("RESILIENCE_RATE: %q is not a positive number", os.Getenv("RESILIENCE_RATE"))
	}
	workers, err := strconv.Atoi(getenv("RESILIENCE_WORKERS", "16"))
	if err != nil || workers <= 0 {
		t.Fatalf("RESILIENCE_WORKERS: %q is not a positive integer", os.Getenv("RESILIENCE_WORKERS"))
	}
	// A node lost mid-connect leaves SYNs unanswered: those requests wait
	// the lb's 5 s connect timeout, then its retry on another node answers.
	// The bound here is above that; the one-engine checks keep 4 s.
	l.maxLatency, err = time.ParseDuration(getenv("RESILIENCE_MAX_LATENCY", "8s"))
	if err != nil || l.maxLatency <= 0 {
		t.Fatalf("RESILIENCE_MAX_LATENCY: %q is not a positive duration", os.Getenv("RESILIENCE_MAX_LATENCY"))
	}
	l.load = loadConfig{apiKey: os.Getenv("RESILIENCE_API_KEY"), rate: rate, workers: workers, timeout: 30 * time.Second}
	for _, n := range l.nodes {
		c := mustInspect(t, n)
		l.ips[n] = c.ip(l.network)
		if l.ips[n] == "" {
			t.Fatalf("node %s has no address on %s: is the lab up (scripts/swarm-lab.sh up)?", n, l.network)
		}
	}
	l.manager = l.nodes[0]
	out, err := l.swarm(t.Context(), "node", "ls", "--format", "{{.ID}} {{.Hostname}}")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if id, host, ok := strings.Cut(line, " "); ok {
			l.nodeIDs[id] = host
		}
	}
	return l
}

// swarm runs the docker CLI on a manager that answers.
func (l *lab) swarm(ctx context.Context, args ...string) (string, error) {
	l.mu.Lock()
	m := l.manager
	l.mu.Unlock()
	return docker(ctx, append([]string{"exec", m, "docker"}, args...)...)
}

// nodeInfo is one line of docker node ls.
type nodeInfo struct{ status, availability, manager string }

func (l *lab) nodeList(ctx context.Context) (map[string]nodeInfo, error) {
	out, err := l.swarm(ctx, "node", "ls", "--format", "{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}")
	if err != nil {
		return nil, err
	}
	m := map[string]nodeInfo{}
	for _, line := range strings.Split(out, "\n") {
		// The output is trimmed: the last line may have lost its empty
		// manager column.
		f := append(strings.Split(line, "\t"), "")
		if len(f) >= 4 {
			m[f[0]] = nodeInfo{status: f[1], availability: f[2], manager: f[3]}
		}
	}
	return m, nil
}

// worker is the worker a fault hits: not a manager, not the database's node.
func (l *lab) worker() string {
	for _, n := range slices.Backward(l.nodes) {
		if n != l.dbNode && n != l.nodes[0] {
			return n
		}
	}
	return ""
}

// leader is the managers' leader; the lab's other managers take over the
// CLI from it.
func (l *lab) leader() string {
	ns, err := l.nodeList(context.Background())
	if err != nil {
		return ""
	}
	for n, ni := range ns {
		if ni.manager == "Leader" {
			for _, m := range l.nodes {
				if m != n && ns[m].manager != "" {
					l.mu.Lock()
					l.manager = m
					l.mu.Unlock()
					break
				}
			}
			return n
		}
	}
	return ""
}

func (l *lab) managerCount(t *testing.T) int {
	ns, err := l.nodeList(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ni := range ns {
		if ni.manager != "" {
			n++
		}
	}
	return n
}

// iptables adds (-I) or removes (-D) the one-way cut: victim drops every
// packet from the other nodes; what it sends still leaves, and this host
// still reaches it.
func (l *lab) iptables(ctx context.Context, victim, op string) error {
	for _, n := range l.nodes {
		if n != victim {
			if err := do(ctx, "exec", victim, "iptables", op, "INPUT", "-s", l.ips[n], "-j", "DROP"); err != nil {
				return err
			}
		}
	}
	return nil
}

// do runs the Docker CLI for its effect.
func do(ctx context.Context, args ...string) error {
	_, err := docker(ctx, args...)
	return err
}

// labTask is a task as docker inspect shows it, with its node.
type labTask struct {
	task
	NodeID string
}

func (l *lab) apiTasks(ctx context.Context) ([]labTask, error) {
	out, err := l.swarm(ctx, "service", "ps", "-q", "--no-trunc", "--filter", "desired-state=running", apiService)
	if err != nil {
		return nil, err
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil, nil
	}
	out, err = l.swarm(ctx, append([]string{"inspect", "--type", "task"}, ids...)...)
	if err != nil {
		return nil, err
	}
	var ts []labTask
	return ts, json.Unmarshal([]byte(out), &ts)
}

func (l *lab) node(tk labTask) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nodeIDs[tk.NodeID]
}

func (l *lab) replicas(ctx context.Context) (int, error) {
	out, err := l.swarm(ctx, "service", "inspect", "-f", "{{.Spec.Mode.Replicated.Replicas}}", apiService)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(out)
}

// lbStatus reads the admin /status of node's lb task, from inside the
// node (the admin listener is never published).
func (l *lab) lbStatus(ctx context.Context, node string) (lbStatus, error) {
	var st lbStatus
	l.mu.Lock()
	ip := l.lbIPs[node]
	l.mu.Unlock()
	if ip == "" {
		id, err := docker(ctx, "exec", node, "docker", "ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.service.name="+project+"_lb")
		if err != nil || id == "" {
			return st, fmt.Errorf("no lb task on %s: %v", node, err)
		}
		id, _, _ = strings.Cut(id, "\n")
		out, err := docker(ctx, "exec", node, "docker", "network", "inspect", "docker_gwbridge", "-f", "{{json .Containers}}")
		if err != nil {
			return st, err
		}
		var eps map[string]struct{ IPv4Address string }
		if err := json.Unmarshal([]byte(out), &eps); err != nil {
			return st, err
		}
		ip, _, _ = strings.Cut(eps[id].IPv4Address, "/")
		if ip == "" {
			return st, fmt.Errorf("the lb task on %s has no docker_gwbridge address", node)
		}
		l.mu.Lock()
		l.lbIPs[node] = ip
		l.mu.Unlock()
	}
	out, err := docker(ctx, "exec", node, "curl", "-fsS", "--max-time", "2", "http://"+ip+":9090/status")
	if err != nil {
		l.mu.Lock()
		delete(l.lbIPs, node) // a new lb task, maybe: look again next time
		l.mu.Unlock()
		return st, err
	}
	return st, json.Unmarshal([]byte(out), &st)
}

// converged waits until every node is ready and active, the api runs its
// replica count, and every listed lb's api pool is exactly those tasks,
// every one up. It returns the tasks.
func (l *lab) converged(t *testing.T, what string, lbs []string, timeout time.Duration) []labTask {
	t.Helper()
	var tasks []labTask
	waitFor(t, what, timeout, func() (bool, string) {
		ns, err := l.nodeList(t.Context())
		if err != nil {
			return false, err.Error()
		}
		for _, n := range l.nodes {
			if ns[n].status != "Ready" || ns[n].availability != "Active" {
				return false, fmt.Sprintf("node %s is %s/%s", n, ns[n].status, ns[n].availability)
			}
		}
		want, err := l.replicas(t.Context())
		if err != nil {
			return false, err.Error()
		}
		ts, err := l.apiTasks(t.Context())
		if err != nil {
			return false, err.Error()
		}
		var addrs []string
		for _, tk := range ts {
			// Swarm reports a task running once its health check passed.
			if tk.Status.State != "running" {
				return false, fmt.Sprintf("task %.12s on %s is %s", tk.ID, l.node(tk), tk.Status.State)
			}
			addrs = append(addrs, tk.addr())
		}
		if len(ts) != want {
			return false, fmt.Sprintf("%d api tasks running, want %d", len(ts), want)
		}
		for _, n := range lbs {
			st, err := l.lbStatus(t.Context(), n)
			if err != nil {
				return false, err.Error()
			}
			pool := st.pool("api")
			if len(pool) != len(addrs) {
				return false, n + "'s lb: " + st.describe("api")
			}
			for _, a := range addrs {
				if pool[a].State != "up" {
					return false, n + "'s lb: " + st.describe("api")
				}
			}
		}
		tasks = ts
		return true, ""
	})
	return tasks
}

// writer creates an item every interval through one lb and keeps the
// statuses, to show what the api's writes do during a fault.
type writer struct {
	mu       sync.Mutex
	statuses map[string]int
	failed   []string
	lastFail time.Time
	cancel   context.CancelFunc
	done     chan struct{}
}

func startWriter(base, apiKey, prefix string, interval time.Duration) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{statuses: map[string]int{}, cancel: cancel, done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			body := fmt.Sprintf(`{"name": "%s-%d", "image": "busybox:1.36", "labels": ["swarmlab"]}`, prefix, i)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/inventory", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-API-Key", apiKey)
			// A write that reached a frozen task can be sent to another
			// one only when the api can tell it is the same write: the
			// key lets the lb move it, and the api run it once.
			req.Header.Set("Idempotency-Key", fmt.Sprintf("%s-%d", prefix, i))
			start := time.Now()
			resp, err := client.Do(req)
			status := "error"
			if err == nil {
				status = strconv.Itoa(resp.StatusCode)
				resp.Body.Close()
			} else if ctx.Err() != nil {
				return
			}
			w.mu.Lock()
			w.statuses[status]++
			if status != "201" {
				w.failed = append(w.failed, fmt.Sprintf("%s at %s", status, start.Format("15:04:05.000")))
				w.lastFail = start
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *writer) stop() (summary string, failed int, lastFail time.Time) {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	keys := make([]string, 0, len(w.statuses))
	for k := range w.statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%dx %s", w.statuses[k], k))
	}
	return strings.Join(parts, ", "), len(w.failed), w.lastFail
}

// since formats a duration since t0, or "-" when it never happened.
func since(t0, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%.1fs", t.Sub(t0).Seconds())
}

// scenario runs one fault under load and reports what it measured.
func (l *lab) scenario(t *testing.T, f labFault) {
	if f.managers > 0 {
		if got := l.managerCount(t); got < f.managers {
			t.Skipf("%s needs %d managers, the lab has %d: SWARM_LAB_MANAGERS=%d scripts/swarm-lab.sh up", f.name, f.managers, got, f.managers)
		}
	}
	victim := f.victim(l)
	var lbs []string
	for _, n := range l.nodes {
		if n != victim && len(lbs) < 2 {
			lbs = append(lbs, n)
		}
	}
	before := l.converged(t, "the lab converged", lbs, 5*time.Minute)
	if victim != "" && f.name != "db-node-lost" && !slices.ContainsFunc(before, func(tk labTask) bool { return l.node(tk) == victim }) {
		// Swarm does not move tasks back to a node that returned: spread
		// them again so that the fault takes some away. Scaling up puts
		// the new tasks on the emptiest nodes; scaling down removes tasks
		// from the fullest.
		t0 := time.Now()
		n := len(before)
		for _, r := range []int{n + 2, n} {
			if _, err := l.swarm(t.Context(), "service", "scale", "--detach=false", fmt.Sprintf("%s=%d", apiService, r)); err != nil {
				t.Fatal(err)
			}
			before = l.converged(t, fmt.Sprintf("the lab converged with %d api replicas", r), lbs, 5*time.Minute)
		}
		t.Logf("no api task on %s: spread them again (docker service scale to %d and back) in %s", victim, n+2, time.Since(t0).Round(time.Second))
	}
	var lost []string // the victim's api task addresses
	placement := map[string]int{}
	for _, tk := range before {
		placement[l.node(tk)]++
		if l.node(tk) == victim {
			lost = append(lost, tk.addr())
		}
	}
	replicas := len(before)
	t.Logf("api tasks per node: %v; fault on %q; load through the lbs of %v, %.0f requests/s each", placement, victim, lbs, l.load.rate)

	loads := map[string]*load{}
	for _, n := range lbs {
		cfg := l.load
		cfg.base = l.lbURL(n)
		ld := startLoad(cfg)
		t.Cleanup(func() { ld.stop() })
		loads[n] = ld
	}
	for n, ld := range loads {
		waitFor(t, "the load through "+n+"'s lb warmed up", 30*time.Second, func() (bool, string) {
			return ld.answeredSince(ld.started) >= int(l.load.rate), ""
		})
	}
	w := startWriter(l.lbURL(lbs[0]), l.load.apiKey, fmt.Sprintf("swarmlab-%s-%d", f.name, time.Now().Unix()), 500*time.Millisecond)

	t0 := time.Now()
	injectErr := make(chan error, 1)
	go func() { injectErr <- f.inject(t.Context(), l, victim) }()
	var injected time.Duration
	injecting := true

	// Watch, every half second, for the moments the scenario is about.
	var nodeDown, apiBack time.Time
	lbOut := map[string]time.Time{}
	var seen []string // what the tasks on a cut-off node were doing
	var lastMsg string
	deadline := t0.Add(4 * time.Minute)
	for time.Now().Before(deadline) {
		now := time.Now()
		if injecting {
			select {
			case err := <-injectErr:
				if err != nil {
					t.Fatal(err)
				}
				injected, injecting = time.Since(t0), false
			default:
			}
		}
		if victim != "" && f.nodeDown && nodeDown.IsZero() {
			if ns, err := l.nodeList(t.Context()); err == nil && ns[victim].status == "Down" {
				nodeDown = now
			}
		}
		if apiBack.IsZero() {
			if ts, err := l.apiTasks(t.Context()); err == nil {
				n := 0
				for _, tk := range ts {
					if tk.Status.State == "running" && l.node(tk) != victim && (victim != "" || tk.CreatedAt.After(t0)) {
						n++
					}
				}
				if n >= replicas {
					apiBack = now
				}
				lastMsg = fmt.Sprintf("%d of %d api tasks running off %q", n, replicas, victim)
			} else {
				lastMsg = err.Error()
			}
		}
		for _, n := range lbs {
			if !lbOut[n].IsZero() || len(lost) == 0 {
				continue
			}
			st, err := l.lbStatus(t.Context(), n)
			if err != nil {
				continue
			}
			pool := st.pool("api")
			if !slices.ContainsFunc(lost, func(a string) bool { return pool[a].State == "up" }) {
				lbOut[n] = now
			}
		}
		if f.cutOff && len(seen) == 0 && time.Since(t0) > 10*time.Second && f.name != "worker-pause" {
			if out, err := docker(t.Context(), "exec", victim, "docker", "ps", "--filter", "label=com.docker.stack.namespace="+project, "--format", "{{.Label \"com.docker.swarm.service.name\"}}: {{.Status}}"); err == nil {
				seen = strings.Split(out, "\n")
			}
		}
		outDone := len(lost) == 0 || len(lbOut) == len(lbs)
		if !injecting && !apiBack.IsZero() && outDone && (!f.nodeDown || !nodeDown.IsZero()) && (!f.cutOff || len(seen) > 0 || f.name == "worker-pause") {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if injecting {
		if err := <-injectErr; err != nil {
			t.Fatal(err)
		}
		injected = time.Since(t0)
	}
	if apiBack.IsZero() && !f.failuresExpected {
		t.Errorf("the api did not get back to %d running tasks within 4 minutes: %s", replicas, lastMsg)
	}

	// What the victim's own lb answers while it is cut off (the host
	// still reaches it in the one-way cut).
	var victimLB string
	if f.name == "worker-oneway" {
		victimLB = probe(l.lbURL(victim), l.load.apiKey, 5)
	}

	healStart := time.Now()
	f.heal(t, l, victim)
	var rejoined time.Time
	if victim != "" && f.nodeDown {
		waitFor(t, victim+" ready again", 3*time.Minute, func() (bool, string) {
			ns, err := l.nodeList(t.Context())
			if err != nil {
				return false, err.Error()
			}
			return ns[victim].status == "Ready", victim + " is " + ns[victim].status
		})
		rejoined = time.Now()
	}
	// The cut-off node's old tasks: Swarm has replaced them, and shuts them
	// down once the node reports in again.
	var oldGone time.Time
	if f.cutOff {
		waitFor(t, "the old api tasks on "+victim+" shut down", 3*time.Minute, func() (bool, string) {
			out, err := docker(t.Context(), "exec", victim, "docker", "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+apiService)
			if err != nil {
				return false, err.Error()
			}
			ids := strings.Fields(out)
			ts, err := l.apiTasks(t.Context())
			if err != nil {
				return false, err.Error()
			}
			onVictim := 0
			for _, tk := range ts {
				if l.node(tk) == victim {
					onVictim++
				}
			}
			return len(ids) == onVictim, fmt.Sprintf("%d api containers on %s, %d meant to run there", len(ids), victim, onVictim)
		})
		oldGone = time.Now()
	}
	// The recovery is done when the lab has converged again; the load runs
	// until then.
	l.converged(t, "the lab converged again", lbs, 5*time.Minute)
	recovered := time.Now()
	settle := time.Now()
	for _, ld := range loads {
		waitFor(t, "load after recovery", time.Minute, func() (bool, string) {
			return ld.answeredSince(settle) >= int(2*l.load.rate), ""
		})
	}
	writes, writesFailed, lastFailedWrite := w.stop()

	var perLB []string
	total := 0
	for _, n := range lbs {
		res := loads[n].stop()
		total += res.failed
		during, failedDuring := res.between(t0, recovered)
		t.Logf("load through %s's lb: %s; %d requests (%d failed) from the fault to the recovery", n, res, during, failedDuring)
		if res.failed > 0 {
			t.Logf("%s's lb, failed requests:%s", n, res.failures(10))
		}
		if res.slow > 0 {
			t.Logf("%s's lb, the slowest requests:%s", n, res.slowest(5))
		}
		perLB = append(perLB, fmt.Sprintf("%s:%d/%d(max %s)", n, res.failed, res.requests, res.max.Round(time.Millisecond)))
		if !f.failuresExpected {
			if res.failed > 0 {
				t.Errorf("%d of %d requests through %s's lb failed:%s", res.failed, res.requests, n, res.failures(10))
			}
			if res.max > l.maxLatency {
				t.Errorf("the slowest request through %s's lb took %s, more than %s (RESILIENCE_MAX_LATENCY):%s", n, res.max.Round(time.Millisecond), l.maxLatency, res.slowest(5))
			}
		}
	}
	if writesFailed > 0 && !f.failuresExpected {
		t.Errorf("%d writes through %s's lb failed: %s", writesFailed, lbs[0], writes)
	}
	lbOuts := []string{}
	for _, n := range lbs {
		lbOuts = append(lbOuts, n+":"+since(t0, lbOut[n]))
	}
	if len(seen) > 0 {
		t.Logf("tasks on %s while it was cut off: %s", victim, strings.Join(seen, "; "))
	}
	if victimLB != "" {
		t.Logf("%s's own lb while cut off: %s", victim, victimLB)
	}
	t.Logf("RESULT %s victim=%s api-per-node=%v failed=%d [%s] writes=[%s] inject=%s node-down=%s api-back=%s lb-out=[%s] heal-at=%s rejoined=%s old-tasks-gone=%s last-failed-write=%s recovered=%s",
		f.name, victim, placement, total, strings.Join(perLB, " "), writes, injected.Round(time.Millisecond),
		since(t0, nodeDown), since(t0, apiBack), strings.Join(lbOuts, " "), since(t0, healStart),
		since(healStart, rejoined), since(healStart, oldGone), since(t0, lastFailedWrite), since(t0, recovered))
}

// probe sends n reads and n writes to base and says what came back.
func probe(base, apiKey string, n int) string {
	client := &http.Client{Timeout: 5 * time.Second}
	res := map[string]int{}
	for i := range n {
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			var body *bytes.Reader
			path := "/api/inventory?limit=1"
			if m == http.MethodPost {
				path = "/api/inventory"
				body = bytes.NewReader(fmt.Appendf(nil, `{"name": "swarmlab-probe-%d-%d", "image": "busybox:1.36"}`, time.Now().Unix(), i))
			} else {
				body = bytes.NewReader(nil)
			}
			req, _ := http.NewRequest(m, base+path, body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-API-Key", apiKey)
			resp, err := client.Do(req)
			k := m + " "
			if err != nil {
				k += "no answer"
			} else {
				k += strconv.Itoa(resp.StatusCode)
				resp.Body.Close()
			}
			res[k]++
		}
	}
	keys := make([]string, 0, len(res))
	for k := range res {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%dx %s", res[k], k))
	}
	return strings.Join(parts, ", ")
}
