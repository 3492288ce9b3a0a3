package httpapi

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/docker-examples/stack/services/api/internal/swaggerui"
)

// openAPIDocument is the hand-written OpenAPI 3.1 description of every
// route; TestOpenAPI keeps it true against real responses.
//
//go:embed openapi.json
var openAPIDocument []byte

//go:embed docs/index.html docs/init.js
var docsFS embed.FS

// docsCSP relaxes apiCSP just enough for Swagger UI: its own scripts,
// inline styles (it sets style attributes), data: images and fetching the
// document from this origin.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

func (s *server) openAPI(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, "application/json", openAPIDocument)
}

func (s *server) docsIndex(c echo.Context) error {
	b, _ := docsFS.ReadFile("docs/index.html")
	c.Response().Header().Set("Content-Security-Policy", docsCSP)
	return c.HTMLBlob(http.StatusOK, b)
}

// docsAsset serves /docs/init.js and Swagger UI's files.
func (s *server) docsAsset(c echo.Context) error {
	name := path.Clean(c.Param("*"))
	var (
		b   []byte
		err error
	)
	switch {
	case name == "init.js":
		b, err = docsFS.ReadFile("docs/init.js")
	case strings.HasSuffix(name, ".map"), name == "index.html", strings.Contains(name, "/"):
		err = fs.ErrNotExist
	default:
		b, err = fs.ReadFile(swaggerui.FS, name)
	}
	if err != nil {
		return newProblem(http.StatusNotFound, "not-found", "no such file")
	}
	ctype := map[string]string{
		".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
		".png": "image/png", ".html": "text/html; charset=utf-8",
	}[path.Ext(name)]
	if ctype == "" {
		return newProblem(http.StatusNotFound, "not-found", "no such file")
	}
	c.Response().Header().Set("Content-Security-Policy", docsCSP)
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, ctype, b)
}
