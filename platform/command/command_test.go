package command_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/platform/command"
)

// The test binary doubles as the program under test: with
// COMMAND_TEST_PROGRAM set it runs command.Main with that program instead
// of the tests, so the tests see its exit status and output as a shell would.
func TestMain(m *testing.M) {
	if name := os.Getenv("COMMAND_TEST_PROGRAM"); name != "" {
		command.Main("prog", programs[name])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var programs = map[string]command.RunFunc{
	"fails": func(context.Context, []string, func(string) string, io.Writer) error {
		return errors.New("boom")
	},
	"echoes": func(_ context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
		_, err := fmt.Fprintf(stdout, "args=%q GREETING=%s\n", args, getenv("GREETING"))
		return err
	},
	"waits": func(ctx context.Context, _ []string, _ func(string) string, stdout io.Writer) error {
		fmt.Fprintln(stdout, "ready")
		<-ctx.Done()
		_, err := fmt.Fprintln(stdout, "stopped")
		return err
	},
}

// program is the test binary set up to run the named program with args.
func program(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "COMMAND_TEST_PROGRAM="+name, "GREETING=hello",
		// Under -race, a program otherwise waits 1s at exit for late reports.
		"GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	return cmd
}

func TestMainReportsFailureWithTheProgramName(t *testing.T) {
	cmd := program(t, "fails")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != 1 {
		t.Fatalf("a failing program exited with %v, want exit status 1", err)
	}
	if got, want := stderr.String(), "prog: boom\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
}

func TestMainPassesArgumentsEnvironmentAndStdout(t *testing.T) {
	out, err := program(t, "echoes", "serve", "--verbose").Output()
	if err != nil {
		t.Fatalf("a succeeding program exited with %v, want status 0", err)
	}
	if got, want := string(out), `args=["serve" "--verbose"] GREETING=hello`+"\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

func TestMainEndsTheContextOnSignal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT or SIGTERM to send on Windows")
	}
	for _, sig := range []os.Signal{syscall.SIGTERM, os.Interrupt} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := program(t, "waits")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() || lines.Text() != "ready" {
				t.Fatalf("first line = %q, want ready", lines.Text())
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if !lines.Scan() || lines.Text() != "stopped" {
				t.Errorf("after %v the program printed %q, want stopped", sig, lines.Text())
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("after %v the program exited with %v, want status 0", sig, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the program did not exit within 10s of %v", sig)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	defer func(v, c string) { buildinfo.Version, buildinfo.Commit = v, c }(buildinfo.Version, buildinfo.Commit)
	buildinfo.Version, buildinfo.Commit = "v1.2.3", "abc123"
	var out strings.Builder
	if err := command.Version(&out, "prog"); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "prog v1.2.3 (commit abc123, "+runtime.Version()+")\n"; got != want {
		t.Errorf("version = %q, want %q", got, want)
	}
}
