package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/session"
)

// Sessions is the browser sign-in (*session.Manager): the cookie it sets
// and clears is its own.
type Sessions interface {
	// Login checks the credentials, starts a session replacing r's and
	// sets its cookie on w: session.ErrBadCredentials, or Redis failing.
	Login(ctx context.Context, w http.ResponseWriter, r *http.Request, username, password string) (session.Session, error)
	// Logout ends r's session, if any, and clears its cookie.
	Logout(w http.ResponseWriter, r *http.Request) error
	// Get returns r's live session or session.ErrNoSession.
	Get(r *http.Request) (session.Session, error)
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type sessionResponse struct {
	Authenticated *bool  `json:"authenticated,omitempty"`
	Username      string `json:"username,omitempty"`
	CSRFToken     string `json:"csrf_token,omitempty"`
}

// login is POST /api/auth/login: {"username","password"} -> 200
// {"username","csrf_token"} and the session cookie; wrong credentials 401,
// Redis failing 503. Without Sessions every login is 401.
func (s *server) login(c echo.Context) error {
	if s.Sessions == nil {
		return auth.ErrInvalidCredentials
	}
	var req loginRequest
	if err := decodeJSON(c.Request(), &req); err != nil {
		return err
	}
	r := c.Request()
	ses, err := s.Sessions.Login(r.Context(), c.Response(), r, req.Username, req.Password)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, sessionResponse{Username: ses.Username, CSRFToken: ses.CSRFToken})
}

// logout is POST /api/auth/logout: 204, with or without a session.
func (s *server) logout(c echo.Context) error {
	if s.Sessions != nil {
		if err := s.Sessions.Logout(c.Response(), c.Request()); err != nil {
			return err
		}
	}
	return c.NoContent(http.StatusNoContent)
}

// session is GET /api/auth/session: 200
// {"authenticated":true,"username","csrf_token"} or {"authenticated":false}.
// With Redis failing it is 503: the UI must not conclude it was logged
// out.
func (s *server) session(c echo.Context) error {
	var (
		ses session.Session
		err error = session.ErrNoSession
	)
	if s.Sessions != nil {
		ses, err = s.Sessions.Get(c.Request())
	}
	if err != nil && !errors.Is(err, session.ErrNoSession) {
		return err
	}
	authenticated := err == nil
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, sessionResponse{Authenticated: &authenticated, Username: ses.Username, CSRFToken: ses.CSRFToken})
}
