package deploy

import (
	"slices"
	"testing"
)

// The swarm stack's observability profile (swarm/observability.yaml, an
// overlay of stack.yaml): its services keep the stack's log rotation and
// limits, stay off the data services' network, publish nothing but the
// console, and turn tracing on in the api, frontend and lb.
func TestSwarmObservabilityProfile(t *testing.T) {
	base := services(t, load(t, "swarm/stack.yaml"))
	added := 0
	for name, svc := range services(t, load(t, "swarm/observability.yaml")) {
		t.Run(name, func(t *testing.T) {
			if _, ok := base[name]; ok {
				env := m(svc["environment"])
				if env["OTEL_EXPORTER_OTLP_ENDPOINT"] != "http://jaeger:4318" || len(svc) != 1 {
					t.Errorf("an overlay of stack.yaml's %s: got %v, want only its OTLP endpoint set", name, svc)
				}
				return
			}
			added++
			lg := m(svc["logging"])
			if opts := m(lg["options"]); lg["driver"] != "json-file" || opts["max-size"] == nil || opts["max-file"] == nil {
				t.Errorf("logging = %v, want json-file with max-size and max-file", lg)
			}
			lim := m(m(m(svc["deploy"])["resources"])["limits"])
			for _, k := range []string{"memory", "cpus", "pids"} {
				if lim[k] == nil {
					t.Errorf("deploy.resources.limits.%s is not set (limits: %v)", k, lim)
				}
			}
			if nets := list(svc["networks"]); !slices.Equal(nets, []string{"stack"}) {
				t.Errorf("networks %v, want [stack] only", nets)
			}
			if ports := svc["ports"]; ports != nil && name != "console" {
				t.Errorf("publishes %v: only the console is published", ports)
			}
		})
	}
	if added < 5 {
		t.Errorf("the profile adds %d services, want the metrics, logs and trace stores, vlagent and the console", added)
	}
}
