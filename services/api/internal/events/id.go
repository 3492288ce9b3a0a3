package events

import (
	"errors"
	"strconv"
	"strings"
)

// ID is a Redis stream entry id, "<milliseconds>-<sequence>". IDs grow
// with time, so they order events and resume streams.
type ID struct {
	Ms, Seq uint64
}

// ErrBadID means a string is not a stream id.
var ErrBadID = errors.New("not a stream id")

// ParseID parses "<ms>-<seq>" with both parts decimal, without signs or
// spaces, fitting in 64 bits. It is how Last-Event-ID is read.
func ParseID(s string) (ID, error) {
	msStr, seqStr, ok := strings.Cut(s, "-")
	if !ok || !digits(msStr) || !digits(seqStr) {
		return ID{}, ErrBadID
	}
	ms, err1 := strconv.ParseUint(msStr, 10, 64)
	seq, err2 := strconv.ParseUint(seqStr, 10, 64)
	if err1 != nil || err2 != nil {
		return ID{}, ErrBadID
	}
	return ID{Ms: ms, Seq: seq}, nil
}

func digits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (id ID) String() string {
	return strconv.FormatUint(id.Ms, 10) + "-" + strconv.FormatUint(id.Seq, 10)
}

// Less reports whether id comes before o.
func (id ID) Less(o ID) bool {
	return id.Ms < o.Ms || id.Ms == o.Ms && id.Seq < o.Seq
}
