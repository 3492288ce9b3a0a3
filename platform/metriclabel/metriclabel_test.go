package metriclabel_test

import (
	"testing"

	"github.com/docker-examples/stack/platform/metriclabel"
)

func TestMethod(t *testing.T) {
	for in, want := range map[string]string{
		"GET": "GET", "HEAD": "HEAD", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH",
		"DELETE": "DELETE", "OPTIONS": "OPTIONS",
		"get": "other", "PROPFIND": "other", "X1b2c3": "other", "": "other", "CONNECT": "other", "TRACE": "other",
	} {
		if got := metriclabel.Method(in); got != want {
			t.Errorf("Method(%q) = %q, want %q", in, got, want)
		}
	}
}
