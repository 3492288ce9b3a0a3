package fakeapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/distribution/reference"
)

// Bounds on what a client may send, as the API has them.
const (
	maxBodyBytes      = 64 << 10
	maxNameLen        = 100
	maxImageLen       = 512
	maxDescriptionLen = 2000
	maxLabels         = 20
	maxLabelLen       = 50
	maxURLLen         = 2048
	maxDocsURLs       = 10
)

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// decodeJSON reads r's body, which must be application/json holding one
// JSON object with no unknown members, into dst. Its problems are the
// API's: 415, 413, 400 malformed-json, and 422 naming the member of an
// unknown member or a wrong type.
func decodeJSON(r *http.Request, dst any) *problemError {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &problemError{http.StatusUnsupportedMediaType, "unsupported-media-type", "send the body as application/json", nil}
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return &problemError{http.StatusRequestEntityTooLarge, "payload-too-large",
			fmt.Sprintf("the request body is larger than %d bytes", maxBodyBytes), nil}
	case err != nil:
		return &problemError{http.StatusBadRequest, "malformed-json", "the body cannot be read", nil}
	}
	malformed := func(detail string) *problemError {
		return &problemError{http.StatusBadRequest, "malformed-json", detail, nil}
	}
	if b = bytes.TrimSpace(b); len(b) == 0 || b[0] != '{' {
		return malformed("the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typ):
			return fieldProblem(typ.Field, "must be %s", describeType(typ.Type))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fieldProblem(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "is not a field of this resource")
		}
		return malformed("the body is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformed("the body has data after the JSON object")
	}
	return nil
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "an array of " + strings.TrimPrefix(describeType(t.Elem()), "a ") + "s"
	}
	return "a " + t.Kind().String()
}

// input is what a client sends to create or replace an item.
type input struct {
	Name        string   `json:"name"`
	Image       string   `json:"image"`
	Description string   `json:"description"`
	Labels      []string `json:"labels"`
	SourceURL   string   `json:"source_url"`
	DocsURLs    []string `json:"docs_urls"`
}

// decodeItem reads and validates an item body as the API does.
func decodeItem(r *http.Request) (*Item, *problemError) {
	var in input
	if p := decodeJSON(r, &in); p != nil {
		return nil, p
	}
	return in.normalize()
}

// normalize validates in and returns the item it describes, as the API's
// inventory.Input.Normalize: strings trimmed, labels and documentation
// URLs de-duplicated (first one wins), nil lists made empty, the image
// reference normalised as Docker does. Every problem is reported, in the
// order of the members.
func (in input) normalize() (*Item, *problemError) {
	var v validation
	it := &Item{
		Name:        strings.TrimSpace(in.Name),
		Image:       strings.TrimSpace(in.Image),
		Description: strings.TrimSpace(in.Description),
		SourceURL:   strings.TrimSpace(in.SourceURL),
		Labels:      []string{},
		DocsURLs:    []string{},
	}
	v.text("name", it.Name, maxNameLen, true, false)
	if v.text("image", it.Image, maxImageLen, true, false) {
		norm, err := normalizeImage(it.Image)
		if err != nil {
			v.add("image", "not an image reference: %v", err)
		}
		it.ImageNormalized = norm
	}
	v.text("description", it.Description, maxDescriptionLen, false, true)
	if len(in.Labels) > maxLabels {
		v.add("labels", "at most %d labels", maxLabels)
	} else {
		for i, l := range in.Labels {
			l = strings.TrimSpace(l)
			if v.text(fmt.Sprintf("labels[%d]", i), l, maxLabelLen, true, false) && !slices.Contains(it.Labels, l) {
				it.Labels = append(it.Labels, l)
			}
		}
	}
	if it.SourceURL != "" {
		v.url("source_url", it.SourceURL)
	}
	if len(in.DocsURLs) > maxDocsURLs {
		v.add("docs_urls", "at most %d URLs", maxDocsURLs)
	} else {
		for i, u := range in.DocsURLs {
			u = strings.TrimSpace(u)
			f := fmt.Sprintf("docs_urls[%d]", i)
			if u == "" {
				v.add(f, "must not be empty")
			} else if v.url(f, u) && !slices.Contains(it.DocsURLs, u) {
				it.DocsURLs = append(it.DocsURLs, u)
			}
		}
	}
	if p := v.problem(); p != nil {
		return nil, p
	}
	return it, nil
}

// validation collects the problems of a request, so a client can fix them
// in one go.
type validation struct{ errs []fieldError }

func (v *validation) add(field, format string, args ...any) {
	v.errs = append(v.errs, fieldError{field, fmt.Sprintf(format, args...)})
}

// problem is the 422 of the problems collected, or nil.
func (v *validation) problem() *problemError {
	if len(v.errs) == 0 {
		return nil
	}
	return &problemError{http.StatusUnprocessableEntity, "validation", "the request is not valid: see errors", v.errs}
}

// text reports whether s is valid UTF-8 of at most max characters,
// non-empty when required, without control characters (but newlines and
// tabs when multiline).
func (v *validation) text(field, s string, max int, required, multiline bool) bool {
	switch {
	case s == "" && required:
		v.add(field, "is required")
		return false
	case !utf8.ValidString(s):
		v.add(field, "must be valid UTF-8")
		return false
	case utf8.RuneCountInString(s) > max:
		v.add(field, "must be at most %d characters", max)
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			v.add(field, "must not contain control characters")
			return false
		}
	}
	return true
}

// url reports whether s is an absolute http or https URL with a host and
// no credentials.
func (v *validation) url(field, s string) bool {
	if !v.text(field, s, maxURLLen, true, false) {
		return false
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || strings.ContainsAny(s, " \\"):
		v.add(field, "must be a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		v.add(field, "must be an http or https URL")
	case u.Host == "" || u.Hostname() == "":
		v.add(field, "must name a host")
	case u.User != nil:
		v.add(field, "must not contain credentials")
	default:
		return true
	}
	return false
}

// normalizeImage returns the canonical form of an image reference as
// docker pull reads it, with the default tag when there is neither tag nor
// digest: "postgres:17-alpine" is "docker.io/library/postgres:17-alpine".
// It is the API's rule, on the same parser.
func normalizeImage(s string) (string, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return "", err
	}
	return reference.TagNameOnly(named).String(), nil
}
