package cache

// Waiters is how many callers are joined to a shared load right now.
func Waiters(c *Cache) int64 { return c.waiters.Load() }

// ItemVersion is itemVersion, for tests.
func ItemVersion(b []byte) (int64, bool) { return itemVersion(b) }
