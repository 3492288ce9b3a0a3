// Package tagver reads versions out of image tags and finds the updates a
// person would call updates: a tag is only ever compared with tags of the
// same shape (same prefix, same number of numeric components, same
// suffix), so 17.2-alpine is followed by 17.3-alpine and never by
// 18-bookworm or 17.3-rc1; pre-releases and tags without a version never
// count. Nothing here does I/O.
package tagver

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MaxComponents bounds the numeric components a version tag may have.
const MaxComponents = 4

// Version is a tag read as prefix, numbers and suffix: "v1.27.3-alpine" is
// {Prefix: "v", Nums: [1 27 3], Suffix: "-alpine"}.
type Version struct {
	Tag    string
	Prefix string
	Nums   []uint64
	Suffix string
	// Pre is true for a pre-release: a suffix part such as rc1, beta,
	// alpha.2, dev, nightly, snapshot.
	Pre bool
}

// Shape is what two tags must share to be compared.
func (v Version) Shape() string {
	return v.Prefix + "|" + strconv.Itoa(len(v.Nums)) + "|" + v.Suffix
}

// Floating reports whether the tag names a moving target rather than one
// release: a single number (mongo:7, postgres:17-alpine) is rebuilt for
// every patch release under it.
func (v Version) Floating() bool { return len(v.Nums) == 1 }

// prefixRE: the prefixes releases carry. Anything else (feature-, pr-,
// build-) is a branch or CI tag, not a release.
var prefixRE = regexp.MustCompile(`^(v|V|r|release-|version-)?$`)

// preRE matches one suffix part that marks a pre-release.
var preRE = regexp.MustCompile(`^(?i)(rc|alpha|beta|a|b|pre|preview|dev|devel|snapshot|nightly|canary|edge|unstable|test|experimental|insiders)\.?\d*$`)

// Parse reads tag as a version. ok is false for tags that carry no
// version (latest, stable, main, sha-abc123, a date-like hash).
func Parse(tag string) (v Version, ok bool) {
	if tag == "" || len(tag) > 128 {
		return Version{}, false
	}
	i := strings.IndexFunc(tag, isDigit)
	if i < 0 {
		return Version{}, false
	}
	prefix := tag[:i]
	if !prefixRE.MatchString(prefix) {
		return Version{}, false
	}
	rest := tag[i:]
	var nums []uint64
	for {
		j := 0
		for j < len(rest) && isDigit(rune(rest[j])) {
			j++
		}
		if j == 0 || j > 9 {
			return Version{}, false
		}
		n, err := strconv.ParseUint(rest[:j], 10, 64)
		if err != nil {
			return Version{}, false
		}
		nums = append(nums, n)
		rest = rest[j:]
		if len(nums) > MaxComponents {
			return Version{}, false
		}
		if len(rest) >= 2 && rest[0] == '.' && isDigit(rune(rest[1])) {
			rest = rest[1:]
			continue
		}
		break
	}
	// A long run of digits alone is a date or a build number
	// (20240101, 1700000000), not a version people follow.
	if len(nums) == 1 && nums[0] > 9999 && rest == "" && prefix == "" {
		return Version{}, false
	}
	if rest != "" && rest[0] != '-' && rest[0] != '_' && rest[0] != '+' {
		return Version{}, false
	}
	v = Version{Tag: tag, Prefix: prefix, Nums: nums, Suffix: rest}
	for _, part := range strings.FieldsFunc(rest, func(r rune) bool { return r == '-' || r == '_' || r == '+' || r == '.' }) {
		if preRE.MatchString(part) {
			v.Pre = true
		}
	}
	return v, true
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// Compare orders two versions of the same shape by their numbers.
func Compare(a, b Version) int {
	for i := 0; i < len(a.Nums) && i < len(b.Nums); i++ {
		switch {
		case a.Nums[i] < b.Nums[i]:
			return -1
		case a.Nums[i] > b.Nums[i]:
			return 1
		}
	}
	return len(a.Nums) - len(b.Nums)
}

// Filter keeps or drops tags by per-item patterns. Empty fields do
// nothing. Patterns are Go regular expressions (RE2 syntax, so matching
// is linear in the tag's length whatever the pattern) matched against the
// whole tag.
type Filter struct {
	Include *regexp.Regexp
	Exclude *regexp.Regexp
}

// MaxPatternLen bounds a pattern's length in bytes.
const MaxPatternLen = 256

// PatternError is a pattern that does not compile. Which is "include" or
// "exclude".
type PatternError struct {
	Which string
	Err   error
}

func (e *PatternError) Error() string { return e.Which + " pattern: " + e.Err.Error() }
func (e *PatternError) Unwrap() error { return e.Err }

// CompilePattern compiles one pattern anchored to the whole tag. The
// pattern is compiled on its own first, so that one such as `a)|(.*`
// cannot escape the anchoring group; the error is the one a user can read
// against what they typed.
func CompilePattern(pattern string) (*regexp.Regexp, error) {
	if len(pattern) > MaxPatternLen {
		return nil, fmt.Errorf("longer than %d bytes", MaxPatternLen)
	}
	if _, err := regexp.Compile(pattern); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return regexp.Compile(`^(?:` + pattern + `)$`)
}

// CompileFilter compiles include and exclude (either may be empty),
// anchoring them to the whole tag. The error is a *PatternError.
func CompileFilter(include, exclude string) (Filter, error) {
	var f Filter
	var err error
	if include != "" {
		if f.Include, err = CompilePattern(include); err != nil {
			return Filter{}, &PatternError{Which: "include", Err: err}
		}
	}
	if exclude != "" {
		if f.Exclude, err = CompilePattern(exclude); err != nil {
			return Filter{}, &PatternError{Which: "exclude", Err: err}
		}
	}
	return f, nil
}

func (f Filter) keep(tag string) bool {
	if f.Include != nil && !f.Include.MatchString(tag) {
		return false
	}
	if f.Exclude != nil && f.Exclude.MatchString(tag) {
		return false
	}
	return true
}

// Candidates is what the other tags of a repository offer the current
// tag: the newest tag of the same shape with the same major number, and
// the newest of the same shape overall. Either is empty when nothing is
// newer than current.
type Candidates struct {
	NewestInMajor string
	Newest        string
}

// Available reports whether any newer tag exists.
func (c Candidates) Available() bool { return c.NewestInMajor != "" || c.Newest != "" }

// Newer finds the updates for current among tags. It returns ok false
// when current has no version or is a pre-release (such tags are watched
// for digest drift only).
func Newer(current string, tags []string, f Filter) (c Candidates, ok bool) {
	cur, ok := Parse(current)
	if !ok || cur.Pre {
		return Candidates{}, false
	}
	shape := cur.Shape()
	var bestMajor, best *Version
	for _, t := range tags {
		if t == current || !f.keep(t) {
			continue
		}
		v, ok := Parse(t)
		if !ok || v.Pre || v.Shape() != shape || Compare(v, cur) <= 0 {
			continue
		}
		if v.Nums[0] == cur.Nums[0] && (bestMajor == nil || Compare(v, *bestMajor) > 0) {
			vv := v
			bestMajor = &vv
		}
		if best == nil || Compare(v, *best) > 0 {
			vv := v
			best = &vv
		}
	}
	if bestMajor != nil {
		c.NewestInMajor = bestMajor.Tag
	}
	if best != nil {
		c.Newest = best.Tag
	}
	return c, true
}
