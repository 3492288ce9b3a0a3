// Package statuswriter is the stack's one status-recording response
// writer: metrics, access logs and middleware of every service learn what a
// handler answered from it.
package statuswriter

import "net/http"

// Writer passes a response through to ResponseWriter and records its
// status and size. Unwrap lets http.ResponseController reach the
// connection (flushes, deadlines, hijacking), so event streams and
// WebSockets pass through it. Not safe for concurrent use, as no
// http.ResponseWriter is.
type Writer struct {
	http.ResponseWriter
	// Status is the first final status written, or 101 when the connection
	// switched protocols; 0 until the handler writes. An informational
	// answer (103 Early Hints) is passed on but not recorded.
	Status int
	// Size is the number of body bytes written.
	Size int64
}

// New returns a Writer on w.
func New(w http.ResponseWriter) *Writer { return &Writer{ResponseWriter: w} }

// Reset makes the Writer new on w, for reuse from a pool.
func (w *Writer) Reset(rw http.ResponseWriter) { *w = Writer{ResponseWriter: rw} }

// WriteHeader implements http.ResponseWriter.
func (w *Writer) WriteHeader(code int) {
	if w.Status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter; a write before WriteHeader is a 200.
func (w *Writer) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.Size += int64(n)
	return n, err
}

// Flush implements http.Flusher when the underlying writer does.
func (w *Writer) Flush() {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
