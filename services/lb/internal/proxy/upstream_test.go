package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// upstreamPair is a connection pool to a one-connection TCP server on
// loopback, and that server's end of the connection.
func upstreamPair(t *testing.T) (*upConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	p := newConnPool(ln.Addr().String(), time.Second, 4)
	t.Cleanup(p.close)
	c, err := p.dialConn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.destroy)
	srv, ok := <-accepted
	if !ok {
		t.Fatal("no connection accepted")
	}
	t.Cleanup(func() { srv.Close() })
	return c, srv
}

// flushAwait sends the request and returns once the answer is there, and
// the answer reads as it was sent, however large the request (a request
// larger than the socket takes at once goes on with ordinary writes).
func TestFlushAwaitSendsTheRequestAndFindsTheAnswer(t *testing.T) {
	for _, size := range []int{5, 8 << 20} {
		c, srv := upstreamPair(t)
		req := bytes.Repeat([]byte("q"), size)
		got := make(chan []byte, 1)
		go func() {
			b := make([]byte, size)
			if _, err := io.ReadFull(srv, b); err != nil {
				got <- nil
				return
			}
			got <- b
			_, _ = srv.Write([]byte("answer"))
		}()
		// What a flush of c.bw does, with a request of any size.
		c.w.await = true
		n, err := c.w.Write(req)
		c.w.await = false
		if err != nil || n != size {
			t.Fatalf("size %d: Write = %d, %v; want %d, nil", size, n, err, size)
		}
		if b := <-got; !bytes.Equal(b, req) {
			t.Fatalf("size %d: the backend got %d bytes, want the %d sent", size, len(b), size)
		}
		ans := make([]byte, 6)
		if _, err := io.ReadFull(c.br, ans); err != nil || string(ans) != "answer" {
			t.Fatalf("size %d: answer %q, %v; want %q", size, ans, err, "answer")
		}
	}
}

// A backend that never answers: the wait for the answer ends at the
// connection's deadline, and the read after it says so.
func TestFlushAwaitEndsAtTheDeadline(t *testing.T) {
	c, srv := upstreamPair(t)
	go func() { _, _ = io.Copy(io.Discard, srv) }()
	_ = c.SetDeadline(time.Now().Add(50 * time.Millisecond))
	_, _ = c.bw.WriteString("GET / HTTP/1.1\r\n\r\n")
	if err := c.flushAwait(); err != nil {
		t.Fatalf("flushAwait: %v, want nil (the read reports the deadline)", err)
	}
	if _, err := c.br.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
}

// A deadline already past: nothing is sent, and the write says why.
func TestFlushAwaitPastDeadlineSendsNothing(t *testing.T) {
	c, srv := upstreamPair(t)
	_ = c.SetDeadline(alreadyPast)
	_, _ = c.bw.WriteString("GET / HTTP/1.1\r\n\r\n")
	if err := c.flushAwait(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("flushAwait: %v, want os.ErrDeadlineExceeded", err)
	}
	_ = srv.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _ := srv.Read(make([]byte, 1)); n != 0 {
		t.Fatalf("the backend got %d bytes, want none", n)
	}
}
