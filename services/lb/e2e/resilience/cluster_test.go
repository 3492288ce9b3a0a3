package resilience_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

const clusterNetwork = "cluster-network"

// TestCluster takes one api replica of the cluster (make cluster) away
// under load, three ways, and checks each time that no request failed and
// that the replica comes back healthy and takes requests again:
//
//   - crash: SIGKILL to the replica's process from the host, as the kernel's
//     OOM killer or a crash would end it; its restart policy brings it back;
//   - kill: `docker kill`, the same SIGKILL, but Docker counts it as a
//     manual stop and its restart policy (unless-stopped) leaves it
//     stopped: the check starts it again, as an operator would;
//   - stop: `docker stop`, SIGTERM: it drains and exits 0, and stays
//     stopped until started.
func TestCluster(t *testing.T) {
	e := setup(t, "cluster")
	for _, how := range []string{"crash", "kill", "stop"} {
		t.Run(how, func(t *testing.T) { e.clusterReplicaDies(t, how) })
	}
}

// apiReplicas are the cluster's running api containers, sorted by name,
// once all of them are healthy and up in the lb's pool.
func (e env) apiReplicas(t *testing.T) []container {
	t.Helper()
	var cs []container
	waitFor(t, "every api replica healthy and up in the lb", 3*time.Minute, func() (bool, string) {
		cs = running(t, "com.docker.compose.project="+project, "com.docker.compose.service=api")
		var addrs []string
		for _, c := range cs {
			if c.health() != "healthy" {
				return false, c.Name + " is " + c.health()
			}
			addrs = append(addrs, c.ip(clusterNetwork)+":8000")
		}
		if len(cs) < 2 {
			return false, fmt.Sprintf("%d api replicas running, want at least 2", len(cs))
		}
		return e.apiPoolIs(addrs)()
	})
	return cs
}

// clusterReplicaDies takes one api replica away under load (how: crash,
// kill or stop, as TestCluster describes) and follows it back.
func (e env) clusterReplicaDies(t *testing.T, how string) {
	replicas := e.apiReplicas(t)
	victim := replicas[len(replicas)/2]
	addr := victim.ip(clusterNetwork) + ":8000"
	t.Logf("%d api replicas up; %s %s (%s) under %.0f requests/s", len(replicas), how, victim.Name, addr, e.load.rate)

	l := e.underLoad(t)

	t0 := time.Now()
	stopped := make(chan error, 1)
	switch how {
	case "crash":
		if err := syscall.Kill(victim.State.Pid, syscall.SIGKILL); err != nil {
			skipOutsideCI(t, "cannot signal the replica's process %d from here (%v): the crash needs the Docker host's process table and root", victim.State.Pid, err)
		}
		stopped <- nil
	case "kill":
		mustDocker(t, "kill", victim.ID)
		stopped <- nil
	case "stop":
		go func() { _, err := docker(t.Context(), "stop", victim.ID); stopped <- err }()
	}
	waitFor(t, "the lb takes "+addr+" out of rotation", time.Minute, func() (bool, string) {
		_, state, err := e.backendState(addr)
		if err != nil {
			return false, err.Error()
		}
		return state != "up", addr + " is " + state
	})
	left := time.Since(t0)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	exited := time.Since(t0)

	switch how {
	case "stop":
		c := mustInspect(t, victim.ID)
		if c.State.Running || c.State.ExitCode != 0 {
			t.Errorf("after docker stop: running %v, exit code %d; want a clean exit (0) on SIGTERM", c.State.Running, c.State.ExitCode)
		}
		mustDocker(t, "start", victim.ID)
	case "kill":
		waitFor(t, victim.Name+" exited", time.Minute, func() (bool, string) {
			c, err := inspect(t.Context(), victim.ID)
			if err != nil {
				return false, err.Error()
			}
			return !c.State.Running, c.State.Status
		})
		mustDocker(t, "start", victim.ID)
	}
	waitFor(t, victim.Name+" running again", time.Minute, func() (bool, string) {
		c, err := inspect(t.Context(), victim.ID)
		if err != nil {
			return false, err.Error()
		}
		return c.State.Running && c.State.StartedAt.After(t0), c.State.Status
	})
	restarted := time.Since(t0)
	newAddr := mustInspect(t, victim.ID).ip(clusterNetwork) + ":8000"
	e.servesAgain(t, newAddr, 20, 2*time.Minute)
	inPool := time.Since(t0)
	waitFor(t, victim.Name+" healthy (Docker's health check)", 3*time.Minute, func() (bool, string) {
		c, err := inspect(t.Context(), victim.ID)
		if err != nil {
			return false, err.Error()
		}
		return c.health() == "healthy", c.health()
	})
	healthy := time.Since(t0)
	if how == "crash" {
		if c := mustInspect(t, victim.ID); c.RestartCount <= victim.RestartCount {
			t.Errorf("restart count %d, was %d: not restarted by its restart policy", c.RestartCount, victim.RestartCount)
		}
	}
	exit := ""
	if how == "stop" {
		exit = fmt.Sprintf(" (it drained and exited after %s)", exited.Round(time.Millisecond))
	}
	t.Logf("%s %s: out of the lb's rotation after %s%s, running again after %s (%s), back in the lb's pool and serving after %s, healthy in Docker after %s",
		how, victim.Name, left.Round(time.Millisecond), exit, restarted.Round(time.Millisecond),
		newAddr, inPool.Round(time.Millisecond), healthy.Round(time.Millisecond))
	e.finish(t, l, how+" until the replica served again", t0, inPool)
}
