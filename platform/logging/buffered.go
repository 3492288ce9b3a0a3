package logging

import (
	"io"
	"sync"
	"time"
)

// bufferedLimit is how much a BufferedWriter holds before it writes.
const bufferedLimit = 32 << 10

// BufferedWriter gathers the lines a logger writes and hands them to its
// writer together: at most interval after the first line it holds, as
// soon as it holds 32 KiB, at once after a line at Warn or above (logged
// by a logger of New), and on Flush and Close. One write per request, a
// system call on stdout, was the access log's largest cost in the api's
// profile. A process that dies without Close loses at most interval of
// Info lines. It is safe for concurrent use.
type BufferedWriter struct {
	mu       sync.Mutex
	w        io.Writer
	buf      []byte
	interval time.Duration
	timer    *time.Timer
	closed   bool
	err      error // of the last write to w, returned by the next call
}

// NewBufferedWriter returns a BufferedWriter on w. Call Close when done:
// it writes what is left.
func NewBufferedWriter(w io.Writer, interval time.Duration) *BufferedWriter {
	b := &BufferedWriter{w: w, interval: interval, buf: make([]byte, 0, bufferedLimit)}
	b.timer = time.AfterFunc(time.Hour, func() { _ = b.Flush() })
	b.timer.Stop()
	return b
}

// Write keeps p (one or more whole lines) for the next write to w; after
// Close it writes p at once.
func (b *BufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.w.Write(p)
	}
	if err := b.err; err != nil {
		b.err = nil
		return 0, err
	}
	if len(b.buf) == 0 {
		b.timer.Reset(b.interval)
	}
	b.buf = append(b.buf, p...)
	if len(b.buf) >= bufferedLimit {
		b.flushLocked()
	}
	return len(p), nil
}

// Flush writes what b holds to w.
func (b *BufferedWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	err := b.err
	b.err = nil
	return err
}

func (b *BufferedWriter) flushLocked() {
	if len(b.buf) == 0 {
		return
	}
	if _, err := b.w.Write(b.buf); err != nil {
		b.err = err
	}
	b.buf = b.buf[:0]
}

// Close writes what b holds; later writes go to w directly.
func (b *BufferedWriter) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.timer.Stop()
	b.flushLocked()
	b.closed = true
	err := b.err
	b.err = nil
	return err
}
