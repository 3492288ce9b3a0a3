package httpapi

import (
	"encoding/json"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/docker-examples/stack/services/api/internal/inventory"
)

// etag is the strong entity tag of an item: its version, which grows with
// every write, and a hash of its enrichment, which the background checks
// change without a write ("v3.1f2e3d4c"). If-Match compares the version
// part only: new facts never make a client's edit fail.
func etag(it inventory.Item) string {
	v := `"v` + strconv.FormatInt(it.Version, 10)
	if it.Registry == nil && it.GitHub == nil && it.Links == nil {
		return v + `"`
	}
	h := fnv.New32a()
	b, _ := json.Marshal(struct {
		R *inventory.RegistryFacts
		G *inventory.GitHubFacts
		L []inventory.LinkResult
	}{it.Registry, it.GitHub, it.Links})
	h.Write(b)
	return v + "." + strconv.FormatUint(uint64(h.Sum32()), 16) + `"`
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
