package statuswriter

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRecordsWhatTheHandlerAnswered(t *testing.T) {
	for _, tc := range []struct {
		name       string
		handler    func(w http.ResponseWriter)
		wantStatus int
		wantSize   int64
	}{
		{"nothing", func(w http.ResponseWriter) {}, 0, 0},
		{"write without header", func(w http.ResponseWriter) { _, _ = io.WriteString(w, "hello") }, 200, 5},
		{"explicit status", func(w http.ResponseWriter) { w.WriteHeader(404); _, _ = io.WriteString(w, "no") }, 404, 2},
		{"first status wins", func(w http.ResponseWriter) { w.WriteHeader(503); w.WriteHeader(200) }, 503, 0},
		{"early hints then 200", func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(201) }, 201, 0},
		{"switching protocols", func(w http.ResponseWriter) { w.WriteHeader(101) }, 101, 0},
		{"flush is a 200", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }, 200, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := New(rec)
			tc.handler(w)
			if w.Status != tc.wantStatus || w.Size != tc.wantSize {
				t.Errorf("Status %d Size %d, want %d %d", w.Status, w.Size, tc.wantStatus, tc.wantSize)
			}
		})
	}
}

// ResponseController reaches the connection through the Writer: an event
// stream can flush and lift its write deadline.
func TestResponseControllerReachesTheConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := New(rw)
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Time{}); err != nil {
			t.Errorf("SetWriteDeadline through the Writer: %v", err)
		}
		_, _ = io.WriteString(w, "data: x\n\n")
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush through the Writer: %v", err)
		}
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestReset(t *testing.T) {
	w := New(httptest.NewRecorder())
	w.WriteHeader(500)
	rec := httptest.NewRecorder()
	w.Reset(rec)
	if w.Status != 0 || w.Size != 0 || w.ResponseWriter != rec {
		t.Errorf("after Reset: %+v", w)
	}
}
