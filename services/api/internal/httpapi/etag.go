package httpapi

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/docker-examples/stack/services/api/internal/inventory"
)

// etag is the strong entity tag of an item: its version, which grows with
// every write, and, once the background checks have stored facts (which
// change without a write), a hash of the item's JSON ("v3.1f2e3d4c").
// If-Match compares the version part only: new facts never make a client's
// edit fail.
func etag(it inventory.Item) string {
	if it.Registry == nil && it.GitHub == nil && it.Links == nil {
		return versionETag(it.Version)
	}
	b, _ := json.Marshal(it) // the bytes the cache holds (GetItemJSON)
	return bodyETag(it.Version, b)
}

func versionETag(version int64) string { return `"v` + strconv.FormatInt(version, 10) + `"` }

// bodyETag is etag for an item's JSON as cached: the same tag as etag of
// the decoded item.
func bodyETag(version int64, b []byte) string {
	if !bytes.Contains(b, []byte(`"registry":`)) && !bytes.Contains(b, []byte(`"github":`)) && !bytes.Contains(b, []byte(`"links":`)) {
		return versionETag(version)
	}
	h := fnv.New32a()
	h.Write(b)
	return `"v` + strconv.FormatInt(version, 10) + "." + strconv.FormatUint(uint64(h.Sum32()), 16) + `"`
}

// versionPart drops the enrichment hash from an entity tag.
func versionPart(t string) string {
	if i := strings.IndexByte(t, '.'); i > 0 && strings.HasSuffix(t, `"`) {
		return t[:i] + `"`
	}
	return t
}

// matchesIfMatch reports whether the If-Match header value h allows a
// write to an item with tag: "*" matches any existing item, otherwise one
// of the listed tags must match with the strong comparison (RFC 9110
// 13.1.1), so weak tags never match.
func matchesIfMatch(h, tag string) bool {
	for _, t := range splitTags(h) {
		if t == "*" || versionPart(t) == versionPart(tag) {
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
