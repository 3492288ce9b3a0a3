package command_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/platform/command"
)

type testConfig struct{ Port string }

func (c testConfig) Addr() string { return ":" + c.Port }

// testService is a service whose configuration is PORT, which must be
// set; it writes what each subcommand was given.
func testService() command.Service[testConfig] {
	return command.Service[testConfig]{
		Name: "prog",
		Load: func(getenv func(string) string) (testConfig, error) {
			if getenv("PORT") == "" {
				return testConfig{}, errors.New("PORT: must be set")
			}
			return testConfig{Port: getenv("PORT")}, nil
		},
		Serve: func(_ context.Context, cfg testConfig, getenv func(string) string, stdout io.Writer) error {
			_, err := fmt.Fprintf(stdout, "serve port=%s GREETING=%s", cfg.Port, getenv("GREETING"))
			return err
		},
		Commands: []command.Command[testConfig]{
			{Name: "migrate", Run: func(_ context.Context, cfg testConfig, args []string, stdout io.Writer) error {
				_, err := fmt.Fprintf(stdout, "migrate port=%s args=%q", cfg.Port, args)
				return err
			}},
			{Name: "probe", WithoutConfig: true, Run: func(_ context.Context, cfg testConfig, args []string, stdout io.Writer) error {
				_, err := fmt.Fprintf(stdout, "probe port=%q args=%q", cfg.Port, args)
				return err
			}},
		},
	}
}

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestServiceDispatchesSubcommands(t *testing.T) {
	defer func(v, c string) { buildinfo.Version, buildinfo.Commit = v, c }(buildinfo.Version, buildinfo.Commit)
	buildinfo.Version, buildinfo.Commit = "v1.2.3", "abc123"
	good := env(map[string]string{"PORT": "8000", "GREETING": "hello"})
	bad := env(nil)
	for _, tt := range []struct {
		name    string
		args    []string
		getenv  func(string) string
		want    string // the output, or what the error says
		wantErr bool
	}{
		{"no arguments serve", nil, good, "serve port=8000 GREETING=hello", false},
		{"serve", []string{"serve"}, good, "serve port=8000 GREETING=hello", false},
		{"a command gets the arguments after its name", []string{"migrate", "down", "1"}, good, `migrate port=8000 args=["down" "1"]`, false},
		{"a bad configuration stops serve", nil, bad, "PORT: must be set", true},
		{"a bad configuration stops a command", []string{"migrate"}, bad, "PORT: must be set", true},
		{"a command without config runs whatever the environment", []string{"probe", "http://x"}, bad, `probe port="" args=["http://x"]`, false},
		{"version needs no configuration", []string{"version"}, bad, "prog v1.2.3 (commit abc123, ", false},
		{"an unknown command lists the known ones", []string{"serv"}, good, `unknown command "serv": want serve, migrate, probe, healthcheck or version`, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			err := testService().Run(context.Background(), tt.args, tt.getenv, &out)
			got := out.String()
			if tt.wantErr {
				if err == nil {
					t.Fatalf("run %q = nil (output %q), want an error saying %q", tt.args, got, tt.want)
				}
				got = err.Error()
			} else if err != nil {
				t.Fatalf("run %q = %v, want nil", tt.args, err)
			}
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("run %q: got %q, want %q", tt.args, got, tt.want)
			}
		})
	}
}

func TestServiceHealthcheckAsksHealthOnTheConfiguredPort(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	run := func() error {
		return testService().Run(context.Background(), []string{"healthcheck"}, env(map[string]string{"PORT": port}), io.Discard)
	}
	if err := run(); err != nil {
		t.Errorf("healthcheck with /health answering 200 = %v, want nil", err)
	}
	status = http.StatusServiceUnavailable
	if err := run(); err == nil {
		t.Error("healthcheck with /health answering 503 = nil, want an error")
	}
}
