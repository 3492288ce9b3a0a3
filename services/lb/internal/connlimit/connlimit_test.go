package connlimit

import (
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// serveEcho accepts from ln and echoes, so a client can tell a connection
// that is served from one that was closed at once.
func serveEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// served reports whether c is answered (its echo comes back).
func served(t *testing.T, c net.Conn) bool {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		return false
	}
	var b [1]byte
	_, err := io.ReadFull(c, b[:])
	return err == nil
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConnectionsPerAddressAreCapped(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	ln := New(raw, 2, nil, func() { refused.Add(1) }).(*Listener)
	defer ln.Close()
	go serveEcho(ln)
	addr := raw.Addr().String()

	a, b := dial(t, addr), dial(t, addr)
	if !served(t, a) || !served(t, b) {
		t.Fatal("the first two connections were not served")
	}
	if served(t, dial(t, addr)) {
		t.Error("a third connection from the same address was served; want it closed")
	}
	if got := refused.Load(); got != 1 {
		t.Errorf("refused = %d, want 1", got)
	}
	// Closing one gives its slot back.
	a.Close()
	local := netip.MustParseAddr("127.0.0.1")
	deadline := time.Now().Add(10 * time.Second)
	for ln.Open(local) > 1 {
		if time.Now().After(deadline) {
			t.Fatal("the closed connection still holds its slot")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !served(t, dial(t, addr)) {
		t.Error("a new connection after one closed was not served")
	}
}

func TestExemptPeersAreNotCapped(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := New(raw, 1, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, nil)
	defer ln.Close()
	go serveEcho(ln)
	for i := range 3 {
		if !served(t, dial(t, raw.Addr().String())) {
			t.Fatalf("connection %d from a trusted proxy was not served", i+1)
		}
	}
}
