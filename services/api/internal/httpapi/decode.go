package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

const (
	mediaJSON       = "application/json"
	mediaMergePatch = "application/merge-patch+json"
)

// readJSONBody checks the Content-Type against accepted media types and
// returns the body, which the body limit bounds.
func readJSONBody(c echo.Context, accepted ...string) ([]byte, error) {
	r := c.Request()
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !slices.Contains(accepted, mt) {
		return nil, newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type",
			"send the body as %s", strings.Join(accepted, " or "))
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, errTooLarge
		}
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}

// decodeJSON decodes r's body, which must be application/json holding one
// JSON object with no unknown fields, into dst; its errors are the API's
// problems (415, 400 malformed-json, 413, 422 naming the field).
func decodeJSON(r *http.Request, dst any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != mediaJSON {
		return newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "send the body as %s", mediaJSON)
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return errTooLarge
		}
		return fmt.Errorf("read body: %w", err)
	}
	return decodeStrict(b, dst)
}

// decodeStrict decodes one JSON object from b into dst: unknown fields and
// wrong types are validation problems naming the field, anything that is
// not a single JSON object is malformed-json.
func decodeStrict(b []byte, dst any) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return newProblem(http.StatusBadRequest, "malformed-json", "the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonProblem(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return newProblem(http.StatusBadRequest, "malformed-json", "the body has data after the JSON object")
	}
	return nil
}

// jsonProblem explains an encoding/json error in the client's terms.
func jsonProblem(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return newProblem(http.StatusBadRequest, "malformed-json", "invalid JSON at byte %d", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return newProblem(http.StatusBadRequest, "malformed-json", "the JSON ends too early")
	case errors.As(err, &typ):
		return fieldProblem(typ.Field, "must be %s", describeType(typ.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fieldProblem(field, "is not a field of this resource")
	}
	return newProblem(http.StatusBadRequest, "malformed-json", "the body cannot be decoded")
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "an array of " + strings.TrimPrefix(describeType(t.Elem()), "a ") + "s"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return "a " + t.Kind().String()
}

// mergePatch applies an RFC 7396 JSON merge patch to target (both decoded
// JSON values) and returns the result: object members are merged
// recursively, null removes a member, anything else replaces it.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}
