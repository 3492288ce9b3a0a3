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
