package httpapi

import (
	"strconv"
	"strings"

	"github.com/docker-examples/stack/services/api/internal/inventory"
)

// etag is the strong entity tag of an item: its version, which grows with
// every write.
func etag(it inventory.Item) string { return versionETag(it.Version) }

func versionETag(version int64) string { return `"v` + strconv.FormatInt(version, 10) + `"` }

// matchesIfMatch reports whether the If-Match header value h allows a
// write to an item with tag: "*" matches any existing item, otherwise one
// of the listed tags must match with the strong comparison (RFC 9110
// 13.1.1), so weak tags never match.
func matchesIfMatch(h, tag string) bool {
	for _, t := range splitTags(h) {
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}

// matchesIfNoneMatch reports whether the If-None-Match header value h
// names tag, with the weak comparison (RFC 9110 13.1.2).
func matchesIfNoneMatch(h, tag string) bool {
	for _, t := range splitTags(h) {
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}

func splitTags(h string) []string {
	var out []string
	for _, t := range strings.Split(h, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}
