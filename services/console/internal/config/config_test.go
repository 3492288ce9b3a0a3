package config

import (
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9400 || c.MetricsURL.String() != "http://victoria-metrics:8428" || c.TracesURL.String() != "http://jaeger:16686" || len(c.Links) != 0 {
		t.Fatalf("defaults: got %+v", c)
	}
	c, err = Load(env(map[string]string{"LINKS": "metrics (vmui)=http://localhost:8428/vmui/#/dashboards, logs=http://localhost:9428/select/vmui/"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Links["metrics (vmui)"]; got != "http://localhost:8428/vmui/#/dashboards" || c.Links["logs"] == "" {
		t.Fatalf("links: got %v", c.Links)
	}
	for name, val := range map[string]string{
		"PORT":        "70000",
		"METRICS_URL": "ftp://x",
		"LOGS_URL":    "http://u:p@x:9428",
		"TRACES_URL":  "http://jaeger:16686/api",
		"LINKS":       "metrics=javascript:alert(1)",
		"LOG_LEVEL":   "loud",
	} {
		_, err := Load(env(map[string]string{name: val}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: got %v, want an error naming %s", name, val, err, name)
		}
		if err != nil && strings.Contains(err.Error(), "u:p@") {
			t.Errorf("%s: error shows the password: %v", name, err)
		}
	}
	// Every mistake at once, as the other services report them.
	_, err = Load(env(map[string]string{"PORT": "x", "METRICS_URL": "ftp://x", "LINKS": "nolabel"}))
	for _, name := range []string{"PORT", "METRICS_URL", "LINKS"} {
		if err == nil || !strings.Contains(err.Error(), name+":") {
			t.Errorf("three bad variables: got %v, want one error naming %s too", err, name)
		}
	}
}
