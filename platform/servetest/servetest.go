// Package servetest runs a service binary's run function in a test, as an
// operator runs the binary: Start serves it on a free port and finds the
// address in its "listening" log line, and TestRun checks the promises
// every service of the stack makes.
package servetest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/docker-examples/stack/platform/command"
)

// listenTimeout bounds the wait for the "listening" line; generous, for
// services that build their assets on start under the race detector.
const listenTimeout = time.Minute

// stopTimeout bounds the wait for run to return once its context ended.
const stopTimeout = 30 * time.Second

// Start runs the default subcommand of run, serve, in a goroutine with the
// environment env (which sets PORT=0 for a free port), and waits for its
// JSON log line with "msg":"listening" and the listener's "addr". A service
// with several listeners names each in a "listener" attribute; then only
// the one named "http" counts.
//
// Start returns the listener's base URL ("http://127.0.0.1:PORT" for an
// address on all interfaces), a channel that receives run's result, and
// stop, which ends run's context as SIGTERM would; stop also runs when t
// ends. Start fails t when run returns before listening or no "listening"
// line comes within a minute. It reads run's output until run returns, so
// logging never blocks run; the output is otherwise discarded.
func Start(t testing.TB, run command.RunFunc, env map[string]string) (url string, done <-chan error, stop context.CancelFunc) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	pr, pw := io.Pipe()
	result := make(chan error, 1)
	go func() {
		err := run(ctx, nil, getenv(env), pw)
		pw.Close()
		result <- err
	}()
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		found := false
		for sc.Scan() {
			if addr, ok := listeningAddr(sc.Bytes()); ok && !found {
				listening <- addr
				found = true
			}
		}
		_, _ = io.Copy(io.Discard, pr) // after a line too long to scan
	}()
	select {
	case addr := <-listening:
		return baseURL(addr), result, stop
	case err := <-result:
		t.Fatalf("run returned before listening: %v", err)
	case <-time.After(listenTimeout):
		t.Fatalf("no \"listening\" log line within %v", listenTimeout)
	}
	return "", nil, nil
}

// listeningAddr is the address in a "listening" line of the plain HTTP
// listener.
func listeningAddr(line []byte) (string, bool) {
	var l struct{ Msg, Addr, Listener string }
	if json.Unmarshal(line, &l) != nil || l.Msg != "listening" || l.Addr == "" {
		return "", false
	}
	return l.Addr, l.Listener == "" || l.Listener == "http"
}

// baseURL is the URL of a listener on addr, on loopback when addr is on all
// interfaces.
func baseURL(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Addr().IsUnspecified() {
		addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), ap.Port()).String()
	}
	return "http://" + addr
}

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// TestRun checks, each in a subtest named for it, what every service
// binary of the stack promises an operator:
//
//   - ServeHealthAndGracefulStop: run with env serves GET /health with 200,
//     and returns nil once its context ends.
//   - BadConfigNamesTheVariable: run with PORT=eighty fails with an error
//     that names PORT.
//   - HealthcheckFailsWhenNothingListens: `healthcheck` fails when nothing
//     listens on PORT.
//
// env is the environment run serves with in a test: PORT=0 and whatever
// else the service needs to start, or to stop at once.
func TestRun(t *testing.T, run command.RunFunc, env map[string]string) {
	t.Run("ServeHealthAndGracefulStop", func(t *testing.T) {
		base, done, stop := Start(t, run, env)
		resp, err := http.Get(base + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /health = %d, want 200", resp.StatusCode)
		}
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run after its context ended = %v, want nil", err)
			}
		case <-time.After(stopTimeout):
			t.Errorf("run still running %v after its context ended", stopTimeout)
		}
	})
	t.Run("BadConfigNamesTheVariable", func(t *testing.T) {
		err := run(context.Background(), nil, getenv(map[string]string{"PORT": "eighty"}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "PORT") {
			t.Errorf("run with PORT=eighty = %v, want an error naming PORT", err)
		}
	})
	t.Run("HealthcheckFailsWhenNothingListens", func(t *testing.T) {
		// Nothing listens on port 1: it is privileged, and tcpmux is long gone.
		err := run(context.Background(), []string{"healthcheck"}, getenv(map[string]string{"PORT": "1"}), io.Discard)
		if err == nil {
			t.Error("healthcheck with nothing listening on PORT = nil, want an error")
		}
	})
}
