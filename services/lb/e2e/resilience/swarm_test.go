package resilience_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	apiService   = project + "_api"
	swarmNetwork = "swarm-overlay"
)

// TestSwarm checks the swarm stack (make swarm-up) under load: no request
// fails while
//
//   - kill: one api task's container is killed and swarm replaces the task;
//   - rolling-update: the api service is updated (docker service update
//     --force: every task replaced, one at a time, new task first);
//   - broken-update: the api is updated to a configuration it refuses at
//     start-up (RATE_LIMIT=broken), and swarm rolls the update back by
//     itself (update_config.failure_action: rollback), ending on the
//     previous spec.
func TestSwarm(t *testing.T) {
	e := setup(t, "swarm")
	t.Run("kill", e.swarmTaskKilled)
	t.Run("rolling-update", e.swarmRollingUpdate)
	t.Run("broken-update", e.swarmBrokenUpdate)
}

// task is the part of a swarm task's `docker inspect` the checks read.
type task struct {
	ID           string
	CreatedAt    time.Time
	DesiredState string
	Spec         struct {
		ContainerSpec struct{ Env []string }
	}
	Status struct {
		State           string
		Err             string
		ContainerStatus struct{ ContainerID string }
	}
	NetworksAttachments []struct {
		Network   struct{ Spec struct{ Name string } }
		Addresses []string
	}
}

// addr is the task's api address on the stack's network.
func (tk task) addr() string {
	for _, n := range tk.NetworksAttachments {
		if n.Network.Spec.Name == swarmNetwork && len(n.Addresses) > 0 {
			ip, _, _ := strings.Cut(n.Addresses[0], "/")
			return ip + ":8000"
		}
	}
	return ""
}

// service is the part of `docker service inspect` the checks read.
type service struct {
	Spec struct {
		Mode struct {
			Replicated struct{ Replicas int }
		}
		TaskTemplate struct {
			ContainerSpec struct{ Env []string }
		}
	}
	UpdateStatus *struct {
		State   string
		Message string
	}
}

func (s service) updateState() string {
	if s.UpdateStatus == nil {
		return "none"
	}
	return s.UpdateStatus.State
}

func inspectService(t *testing.T) (service, error) {
	out, err := docker(t.Context(), "service", "inspect", apiService)
	if err != nil {
		return service{}, err
	}
	var ss []service
	if err := json.Unmarshal([]byte(out), &ss); err != nil || len(ss) != 1 {
		return service{}, fmt.Errorf("docker service inspect %s: %d results, %v", apiService, len(ss), err)
	}
	return ss[0], nil
}

// apiTasks lists the api service's tasks, including finished ones when
// all is set, else only those meant to run.
func apiTasks(t *testing.T, all bool) ([]task, error) {
	args := []string{"service", "ps", "-q", "--no-trunc"}
	if !all {
		args = append(args, "--filter", "desired-state=running")
	}
	out, err := docker(t.Context(), append(args, apiService)...)
	if err != nil {
		return nil, err
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil, nil
	}
	out, err = docker(t.Context(), append([]string{"inspect", "--type", "task"}, ids...)...)
	if err != nil {
		return nil, err
	}
	var ts []task
	return ts, json.Unmarshal([]byte(out), &ts)
}

// converged waits until the api service runs its full count of tasks,
// every task's container healthy, the lb's api pool is exactly those
// tasks and every one is up; it returns the tasks.
func (e env) converged(t *testing.T, what string, timeout time.Duration) []task {
	t.Helper()
	var tasks []task
	waitFor(t, what, timeout, func() (bool, string) {
		svc, err := inspectService(t)
		if err != nil {
			return false, err.Error()
		}
		ts, err := apiTasks(t, false)
		if err != nil {
			return false, err.Error()
		}
		want := svc.Spec.Mode.Replicated.Replicas
		var addrs []string
		for _, tk := range ts {
			if tk.Status.State != "running" {
				return false, fmt.Sprintf("task %.12s is %s", tk.ID, tk.Status.State)
			}
			c, err := inspect(t.Context(), tk.Status.ContainerStatus.ContainerID)
			if err != nil {
				return false, err.Error()
			}
			if c.health() != "healthy" {
				return false, fmt.Sprintf("task %.12s's container is %s", tk.ID, c.health())
			}
			addrs = append(addrs, tk.addr())
		}
		if len(ts) != want {
			return false, fmt.Sprintf("%d tasks running, want %d", len(ts), want)
		}
		tasks = ts
		return e.apiPoolIs(addrs)()
	})
	return tasks
}

func (e env) swarmTaskKilled(t *testing.T) {
	before := e.converged(t, "the api service converged", 3*time.Minute)
	victim := before[len(before)/2]
	addr := victim.addr()
	t.Logf("%d api tasks up; killing task %.12s's container (%s) under %.0f requests/s", len(before), victim.ID, addr, e.load.rate)
	l := e.underLoad(t)

	t0 := time.Now()
	mustDocker(t, "kill", victim.Status.ContainerStatus.ContainerID)
	waitFor(t, "the lb takes "+addr+" out of rotation", time.Minute, func() (bool, string) {
		_, state, err := e.backendState(addr)
		if err != nil {
			return false, err.Error()
		}
		return state != "up", addr + " is " + state
	})
	left := time.Since(t0)
	var replacement task
	waitFor(t, "swarm starts a task in place of the killed one", time.Minute, func() (bool, string) {
		ts, err := apiTasks(t, false)
		if err != nil {
			return false, err.Error()
		}
		for _, tk := range ts {
			if !slices.ContainsFunc(before, func(b task) bool { return b.ID == tk.ID }) && tk.Status.State == "running" {
				replacement = tk
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d tasks meant to run", len(ts))
	})
	replaced := time.Since(t0)
	after := e.converged(t, "the api service converged again", 3*time.Minute)
	healthy := time.Since(t0)
	e.servesAgain(t, replacement.addr(), 20, time.Minute)
	serving := time.Since(t0)
	for _, tk := range after {
		if tk.ID == victim.ID {
			t.Errorf("the killed task %.12s is still meant to run", victim.ID)
		}
	}
	t.Logf("kill: out of the lb's rotation after %s, replacement task %.12s (%s) running after %s, healthy with the lb's pool converged after %s, serving after %s",
		left.Round(time.Millisecond), replacement.ID, replacement.addr(), replaced.Round(time.Millisecond), healthy.Round(time.Millisecond), serving.Round(time.Millisecond))
	e.finish(t, l, "kill and replacement", t0, serving)
}

func (e env) swarmRollingUpdate(t *testing.T) {
	before := e.converged(t, "the api service converged", 3*time.Minute)
	t.Logf("%d api tasks up; docker service update --force under %.0f requests/s", len(before), e.load.rate)
	l := e.underLoad(t)

	t0 := time.Now()
	// Without --detach the command returns once the update has finished
	// (or failed).
	if _, err := docker(t.Context(), "service", "update", "--force", "--detach=false", "--quiet", apiService); err != nil {
		t.Fatal(err)
	}
	updated := time.Since(t0)
	// Swarm calls the update completed once the last new task has run
	// for update_config.monitor without failing.
	waitFor(t, "swarm completes the update", 3*time.Minute, func() (bool, string) {
		svc, err := inspectService(t)
		if err != nil {
			return false, err.Error()
		}
		return svc.updateState() == "completed", svc.updateState()
	})
	completed := time.Since(t0)
	after := e.converged(t, "the api service converged after the update", 3*time.Minute)
	for _, tk := range after {
		if slices.ContainsFunc(before, func(b task) bool { return b.ID == tk.ID }) {
			t.Errorf("task %.12s was not replaced by the update", tk.ID)
		}
	}
	t.Logf("rolling update: %d tasks replaced in %s (docker service update returned), update completed after %s", len(after), updated.Round(time.Millisecond), completed.Round(time.Millisecond))
	e.finish(t, l, "rolling update", t0, updated)
}

// brokenEnv is a value the api refuses at start-up: its config names the
// variable and the process exits 1 before listening.
const brokenEnv = "RATE_LIMIT=broken"

func (e env) swarmBrokenUpdate(t *testing.T) {
	before := e.converged(t, "the api service converged", 3*time.Minute)
	svc, err := inspectService(t)
	if err != nil {
		t.Fatal(err)
	}
	env0 := svc.Spec.TaskTemplate.ContainerSpec.Env
	t.Logf("%d api tasks up; docker service update --env-add %s under %.0f requests/s", len(before), brokenEnv, e.load.rate)
	l := e.underLoad(t)

	t0 := time.Now()
	// Docker 20.10's CLI waits for the rollback and then exits 0; newer
	// ones exit non-zero. Either way the service's update status tells.
	out, uerr := docker(t.Context(), "service", "update", "--env-add", brokenEnv, "--detach=false", apiService)
	t.Logf("docker service update returned after %s (error: %v); its last words: %s", time.Since(t0).Round(time.Millisecond), uerr, lastLine(out))
	waitFor(t, "swarm rolls the update back", 5*time.Minute, func() (bool, string) {
		svc, err := inspectService(t)
		if err != nil {
			return false, err.Error()
		}
		return svc.updateState() == "rollback_completed", svc.updateState()
	})
	rolledBack := time.Since(t0)
	svc, err = inspectService(t)
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.Spec.TaskTemplate.ContainerSpec.Env; !slices.Equal(got, env0) {
		t.Errorf("after the rollback the api's environment is %q, want the previous %q", got, env0)
	}
	after := e.converged(t, "the api service converged after the rollback", 3*time.Minute)
	for _, tk := range after {
		if slices.Contains(tk.Spec.ContainerSpec.Env, brokenEnv) {
			t.Errorf("task %.12s runs with %s", tk.ID, brokenEnv)
		}
	}
	// The broken tasks failed for the reason given: the api named the
	// variable as it exited.
	all, err := apiTasks(t, true)
	if err != nil {
		t.Fatal(err)
	}
	var why []string
	for _, tk := range all {
		if tk.CreatedAt.Before(t0) || !slices.Contains(tk.Spec.ContainerSpec.Env, brokenEnv) {
			continue
		}
		msg := fmt.Sprintf("task %.12s %s (%s)", tk.ID, tk.Status.State, tk.Status.Err)
		if id := tk.Status.ContainerStatus.ContainerID; id != "" {
			if logs, err := dockerLogs(t, id); err == nil {
				msg += ": " + lastLine(logs)
			}
		}
		why = append(why, msg)
	}
	if len(why) == 0 {
		t.Errorf("no task ever ran with %s: the update did not start", brokenEnv)
	} else if !strings.Contains(strings.Join(why, "\n"), "RATE_LIMIT") {
		t.Errorf("the broken tasks did not say RATE_LIMIT was the problem:\n%s", strings.Join(why, "\n"))
	}
	t.Logf("broken update: rolled back after %s, previous spec restored, lb's pool converged after %s; the broken tasks:\n%s",
		rolledBack.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), strings.Join(why, "\n"))
	e.finish(t, l, "broken update and its rollback", t0, rolledBack)
}

// dockerLogs returns the last lines a container wrote, standard error
// included (where the api says why it stopped).
func dockerLogs(t *testing.T, id string) (string, error) {
	out, err := exec.CommandContext(t.Context(), "docker", "logs", "--tail", "5", id).CombinedOutput()
	return string(out), err
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
