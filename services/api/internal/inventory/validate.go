package inventory

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/distribution/reference"

	"github.com/docker-examples/stack/services/api/internal/tagver"
)

// Bounds on what a client may send. The database's CHECK constraints
// repeat them.
const (
	MaxNameLen        = 100
	MaxImageLen       = 512
	MaxDescriptionLen = 2000
	MaxLabels         = 20
	MaxLabelLen       = 50
	MaxURLLen         = 2048
	MaxDocsURLs       = 10
	MaxTagPatternLen  = tagver.MaxPatternLen
)

// FieldError is one problem with one field. Field is a JSON path such as
// "name", "labels[2]" or "limit".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists everything wrong with a request, so a client can
// fix it in one go.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid input:")
	for i, f := range e.Errors {
		if i > 0 {
			b.WriteByte(';')
		}
		fmt.Fprintf(&b, " %s: %s", f.Field, f.Message)
	}
	return b.String()
}

func (e *ValidationError) add(field, format string, args ...any) {
	e.Errors = append(e.Errors, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (e *ValidationError) err() error {
	if len(e.Errors) == 0 {
		return nil
	}
	return e
}

// Normalize validates in and returns the item it describes: strings
// trimmed, labels and documentation URLs de-duplicated (first one wins),
// nil lists made empty, and the image reference normalised as Docker does
// (postgres:17-alpine becomes docker.io/library/postgres:17-alpine, a bare
// name gets :latest). ID, timestamps and version are left zero. The error
// is a *ValidationError.
func (in Input) Normalize() (Item, error) {
	var verr ValidationError
	it := Item{
		Name:        strings.TrimSpace(in.Name),
		Image:       strings.TrimSpace(in.Image),
		Description: strings.TrimSpace(in.Description),
		SourceURL:   strings.TrimSpace(in.SourceURL),
		TagInclude:  strings.TrimSpace(in.TagInclude),
		TagExclude:  strings.TrimSpace(in.TagExclude),
		Labels:      []string{},
		DocsURLs:    []string{},
	}

	checkText(&verr, "name", it.Name, MaxNameLen, true, false)

	if checkText(&verr, "image", it.Image, MaxImageLen, true, false) {
		norm, err := NormalizeImage(it.Image)
		if err != nil {
			verr.add("image", "%v", err)
		}
		it.ImageNormalized = norm
	}

	checkText(&verr, "description", it.Description, MaxDescriptionLen, false, true)

	if len(in.Labels) > MaxLabels {
		verr.add("labels", "at most %d labels", MaxLabels)
	} else {
		seen := map[string]bool{}
		for i, l := range in.Labels {
			l = strings.TrimSpace(l)
			if !checkText(&verr, fmt.Sprintf("labels[%d]", i), l, MaxLabelLen, true, false) || seen[l] {
				continue
			}
			seen[l] = true
			it.Labels = append(it.Labels, l)
		}
	}

	if it.SourceURL != "" {
		checkURL(&verr, "source_url", it.SourceURL)
	}

	if len(in.DocsURLs) > MaxDocsURLs {
		verr.add("docs_urls", "at most %d URLs", MaxDocsURLs)
	} else {
		seen := map[string]bool{}
		for i, u := range in.DocsURLs {
			u = strings.TrimSpace(u)
			f := fmt.Sprintf("docs_urls[%d]", i)
			if u == "" {
				verr.add(f, "must not be empty")
				continue
			}
			if !checkURL(&verr, f, u) || seen[u] {
				continue
			}
			seen[u] = true
			it.DocsURLs = append(it.DocsURLs, u)
		}
	}
	checkPattern(&verr, "tag_include", it.TagInclude)
	checkPattern(&verr, "tag_exclude", it.TagExclude)
	if err := verr.err(); err != nil {
		return Item{}, err
	}
	return it, nil
}

// checkPattern reports whether s is empty or a regular expression
// tagver can match tags with (RE2 syntax, at most MaxTagPatternLen bytes).
func checkPattern(verr *ValidationError, field, s string) bool {
	if s == "" {
		return true
	}
	if !checkText(verr, field, s, MaxTagPatternLen, false, false) {
		return false
	}
	if len(s) > MaxTagPatternLen {
		verr.add(field, "must be at most %d bytes", MaxTagPatternLen)
		return false
	}
	if _, err := tagver.CompilePattern(s); err != nil {
		verr.add(field, "must be a regular expression (RE2 syntax, matched against the whole tag): %v", err)
		return false
	}
	return true
}

// NormalizeImage parses an image reference the way Docker does and returns
// its canonical form with the default tag added when there is neither tag
// nor digest: "postgres:17-alpine" is
// "docker.io/library/postgres:17-alpine".
func NormalizeImage(s string) (string, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return "", fmt.Errorf("not an image reference: %w", err)
	}
	return reference.TagNameOnly(named).String(), nil
}

// ImageRepository returns the repository of an image reference without
// tag or digest, normalised: "postgres:17" is "docker.io/library/postgres".
func ImageRepository(s string) (string, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return "", fmt.Errorf("not an image reference: %w", err)
	}
	return named.Name(), nil
}

// checkText reports whether s is valid UTF-8 of at most max characters,
// non-empty when required, with no control characters (newlines and tabs
// are allowed when multiline). It records what is wrong in verr.
func checkText(verr *ValidationError, field, s string, max int, required, multiline bool) bool {
	switch {
	case s == "" && required:
		verr.add(field, "is required")
		return false
	case !utf8.ValidString(s):
		verr.add(field, "must be valid UTF-8")
		return false
	case utf8.RuneCountInString(s) > max:
		verr.add(field, "must be at most %d characters", max)
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			verr.add(field, "must not contain control characters")
			return false
		}
	}
	return true
}

// checkURL reports whether s is an absolute http or https URL with a host
// and no credentials.
func checkURL(verr *ValidationError, field, s string) bool {
	if !checkText(verr, field, s, MaxURLLen, true, false) {
		return false
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || strings.ContainsAny(s, " \\"):
		verr.add(field, "must be a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		verr.add(field, "must be an http or https URL")
	case u.Host == "" || u.Hostname() == "":
		verr.add(field, "must name a host")
	case u.User != nil:
		verr.add(field, "must not contain credentials")
	default:
		return true
	}
	return false
}
