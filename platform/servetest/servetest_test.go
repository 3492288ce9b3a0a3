package servetest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker-examples/stack/platform/healthcheck"
	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/platform/serve"
	"github.com/docker-examples/stack/platform/servetest"
)

// service is a small service binary built like the stack's, with knobs to
// break each of its promises.
type service struct {
	vagueConfigErrors bool  // config errors do not name the variable
	healthcheckPasses bool  // `healthcheck` succeeds whatever listens
	health            int   // the status of GET /health; 0 is 200
	stopErr           error // what run returns after a clean stop
}

func (s service) run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	port, err := strconv.ParseUint(getenv("PORT"), 10, 16)
	if err != nil {
		if s.vagueConfigErrors {
			return errors.New("the configuration is invalid")
		}
		return fmt.Errorf("PORT: %q is not a port number", getenv("PORT"))
	}
	addr := ":" + strconv.FormatUint(port, 10)
	if len(args) > 0 && args[0] == "healthcheck" {
		if s.healthcheckPasses {
			return nil
		}
		return healthcheck.Check(ctx, healthcheck.LoopbackURL(addr, "/health"), time.Second)
	}
	ln, err := serve.Listen(ctx, addr)
	if err != nil {
		return err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && s.health != 0 {
			w.WriteHeader(s.health)
		}
	})
	if err := serve.Serve(ctx, ln, h, logging.New(stdout, "fake", slog.LevelInfo), serve.Options{}); err != nil {
		return err
	}
	return s.stopErr
}

func TestRunPassesAServiceThatKeepsItsPromises(t *testing.T) {
	servetest.TestRun(t, service{}.run, map[string]string{"PORT": "0"})
}

// failing are tests that must fail, with a message that says why.
var failing = []struct {
	name string
	test func(t *testing.T)
	want string
}{
	{"ConfigErrorWithoutTheVariable", func(t *testing.T) {
		servetest.TestRun(t, service{vagueConfigErrors: true}.run, map[string]string{"PORT": "0"})
	}, "want an error naming PORT"},
	{"HealthcheckPassesWithNothingListening", func(t *testing.T) {
		servetest.TestRun(t, service{healthcheckPasses: true}.run, map[string]string{"PORT": "0"})
	}, "healthcheck with nothing listening on PORT = nil"},
	{"HealthUnavailable", func(t *testing.T) {
		servetest.TestRun(t, service{health: http.StatusServiceUnavailable}.run, map[string]string{"PORT": "0"})
	}, "GET /health = 503, want 200"},
	{"ErrorAfterStop", func(t *testing.T) {
		servetest.TestRun(t, service{stopErr: errors.New("pool not closed")}.run, map[string]string{"PORT": "0"})
	}, "run after its context ended = pool not closed, want nil"},
	{"RunFailsBeforeListening", func(t *testing.T) {
		servetest.Start(t, service{}.run, map[string]string{"PORT": "eighty"})
	}, `run returned before listening: PORT: "eighty" is not a port number`},
}

// TestFailures runs each of failing in a child process of the test binary
// and checks that it fails and says why.
func TestFailures(t *testing.T) {
	if name := os.Getenv("SERVETEST_FAILING"); name != "" {
		for _, f := range failing {
			if f.name == name {
				f.test(t)
			}
		}
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range failing {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(exe, "-test.run=^TestFailures$", "-test.v")
			cmd.Env = append(os.Environ(), "SERVETEST_FAILING="+f.name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Errorf("passed, want it to fail with %q:\n%s", f.want, out)
			} else if !strings.Contains(string(out), f.want) {
				t.Errorf("failed without %q:\n%s", f.want, out)
			}
		})
	}
}

// TestStartUsesThePlainHTTPListener starts a service whose admin listener
// logs first: Start must give the URL of the one named "http".
func TestStartUsesThePlainHTTPListener(t *testing.T) {
	run := func(ctx context.Context, _ []string, _ func(string) string, stdout io.Writer) error {
		log := logging.New(stdout, "fake", slog.LevelInfo)
		for _, name := range []string{"admin", "http"} {
			ln, err := serve.Listen(ctx, "127.0.0.1:0")
			if err != nil {
				return err
			}
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })
			srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Second}
			go func() { _ = srv.Serve(ln) }()
			defer srv.Close()
			log.Info("listening", "listener", name, "addr", ln.Addr().String())
		}
		<-ctx.Done()
		return nil
	}
	base, _, _ := servetest.Start(t, run, nil)
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "http" {
		t.Errorf("Start's URL reaches the %q listener, want http", body)
	}
}

// TestStartKeepsReadingTheLog checks that a service logging on after it
// listens, even a line too long to parse, is never blocked by Start.
func TestStartKeepsReadingTheLog(t *testing.T) {
	run := func(ctx context.Context, _ []string, _ func(string) string, stdout io.Writer) error {
		log := logging.New(stdout, "fake", slog.LevelInfo)
		log.Info("listening", "addr", "127.0.0.1:1")
		<-ctx.Done()
		log.Info("listening", "addr", "127.0.0.1:2")
		log.Info("a long line", "data", strings.Repeat("x", 2<<20))
		for i := range 1000 {
			log.Info("shutting down", "step", i)
		}
		return nil
	}
	_, done, stop := servetest.Start(t, run, nil)
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run blocked logging after it listened")
	}
}
