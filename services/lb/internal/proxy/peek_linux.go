package proxy

import (
	"syscall"
	"unsafe"
)

// peek looks at the socket without consuming or blocking: recv with
// MSG_PEEK|MSG_DONTWAIT. It always reports done, so RawConn.Read never waits.
func (c *upConn) peek(fd uintptr) bool {
	n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.peekBuf[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	c.peekN, c.peekErr = int(n), errno
	if errno != 0 {
		c.peekN = 0
	}
	return true
}

// peekAlive: EAGAIN means open and quiet; 0 bytes means closed by the
// peer; data or any other error means the connection is unusable.
func peekAlive(n int, err syscall.Errno) bool {
	return n == 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
}

// sendAwaitWired: connWriter's send-then-wait works here.
const sendAwaitWired = true

// send is connWriter's RawConn.Read callback. Its first call writes c.out
// without blocking (all of it, or what the socket takes before EAGAIN) and,
// when all of it went out, asks RawConn.Read to wait until the socket is
// readable; the call after that wait ends it. RawConn.Read resets the
// socket's readiness before the first call, so an answer arriving after
// the write is never missed.
func (c *upConn) send(fd uintptr) bool {
	if c.outTried {
		return true // readable (or woken): the read that follows sees
	}
	c.outTried = true
	for c.outN < len(c.out) {
		n, err := syscall.Write(int(fd), c.out[c.outN:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			c.outErr = err
			return true
		}
		if n <= 0 {
			c.outErr = syscall.EAGAIN // the ordinary write takes over
			return true
		}
		c.outN += n
	}
	return false
}
