package replicas_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/services/api/internal/faultredis"
	"github.com/docker-examples/stack/services/api/internal/redistest"
	"github.com/docker-examples/stack/services/api/internal/replicas"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Stop()
	os.Exit(code)
}

func ids(t *testing.T, reg *replicas.Registry) []string {
	t.Helper()
	list, err := reg.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, r := range list {
		out = append(out, r.InstanceID)
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLiveReplicas(t *testing.T) {
	r := faultredis.New(t)
	started := time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)
	opts := replicas.Options{Interval: 20 * time.Millisecond}
	a := replicas.New(r.Client(t), replicas.Replica{InstanceID: "api-1", Version: "v1", StartedAt: started}, opts)
	b := replicas.New(r.Client(t), replicas.Replica{InstanceID: "api-2", Version: "v1", StartedAt: started}, opts)

	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan struct{})
	go func() { defer close(doneA); _ = a.Run(ctxA) }()
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	go func() { _ = b.Run(ctxB) }()

	eventually(t, "both replicas listed", func() bool { return cmp.Equal(ids(t, a), []string{"api-1", "api-2"}) })
	list, _ := b.List(context.Background())
	if list[0].Version != "v1" || !list[0].StartedAt.Equal(started) || list[0].LastSeen.IsZero() {
		t.Errorf("replica entry = %+v, want version, start time and last seen", list[0])
	}

	// A graceful stop removes the replica at once.
	stopA()
	<-doneA
	if diff := cmp.Diff([]string{"api-2"}, ids(t, b)); diff != "" {
		t.Errorf("after api-1 stopped (-want +got):\n%s", diff)
	}
}

func TestDeadReplicaExpires(t *testing.T) {
	r := faultredis.New(t)
	dead := replicas.New(r.Client(t), replicas.Replica{InstanceID: "api-dead"}, replicas.Options{TTL: 300 * time.Millisecond})
	live := replicas.New(r.Client(t), replicas.Replica{InstanceID: "api-live"}, replicas.Options{})
	if err := dead.Beat(context.Background()); err != nil { // one beat, then it "crashes"
		t.Fatal(err)
	}
	if err := live.Beat(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"api-dead", "api-live"}, ids(t, live)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	eventually(t, "the dead replica to expire", func() bool { return cmp.Equal(ids(t, live), []string{"api-live"}) })
	if n := r.Direct().SCard(context.Background(), "replicas:index").Val(); n != 1 {
		t.Errorf("index holds %d ids after pruning, want 1", n)
	}
}

func TestRedisDown(t *testing.T) {
	r := faultredis.New(t)
	reg := replicas.New(r.Client(t), replicas.Replica{InstanceID: "api-1"}, replicas.Options{Interval: 20 * time.Millisecond})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	r.Stop()
	go func() { _ = reg.Run(ctx) }()
	if _, err := reg.List(context.Background()); err == nil {
		t.Error("List with Redis down returned no error")
	}
	r.Start()
	eventually(t, "the heartbeat to resume", func() bool {
		got, err := reg.List(context.Background())
		return err == nil && len(got) == 1
	})
}
