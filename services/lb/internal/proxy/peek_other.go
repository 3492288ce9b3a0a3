//go:build !linux

package proxy

import "syscall"

// peek is a no-op where MSG_PEEK is not wired up: idle connections are
// assumed open and a stale one is found out on use.
func (c *upConn) peek(uintptr) bool { return true }

func peekAlive(int, syscall.Errno) bool { return true }

// sendAwaitWired: connWriter writes to the connection as it is.
const sendAwaitWired = false

func (c *upConn) send(uintptr) bool { return true }
