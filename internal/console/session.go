package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/auth"
	"github.com/gatehub/gatehub/internal/problem"
)

const (
	sessionCookie = "gatehub_session"
	langCookie    = "gatehub_lang"
	csrfField     = "_csrf"
	csrfHeader    = "X-CSRF-Token"
	// A shift at the gate: a session lasts at most 12 hours and ends after
	// an hour without a request.
	sessionMaxAge  = 12 * time.Hour
	sessionIdleFor = time.Hour
	maxSessions    = 50_000
)

// session is one signed-in browser. The bearer token stays on the server
// and is re-authenticated on every request, so that removing a token from
// the tokens file ends its sessions at once; the cookie carries only a
// random id.
type session struct {
	id      string
	token   string
	csrf    string
	created time.Time
	seen    time.Time
}

type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
	now  func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{byID: map[string]*session{}, now: now}
}

func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (ss *sessions) create(token string) *session {
	now := ss.now()
	s := &session{id: randomID(), token: token, csrf: randomID(), created: now, seen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.byID) >= maxSessions {
		ss.expireLocked(now)
	}
	ss.byID[s.id] = s
	return s
}

func (ss *sessions) expireLocked(now time.Time) {
	for id, s := range ss.byID {
		if now.Sub(s.created) > sessionMaxAge || now.Sub(s.seen) > sessionIdleFor {
			delete(ss.byID, id)
		}
	}
}

func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, id)
}

// fromRequest finds the live session of r and authenticates its token now.
func (ss *sessions) fromRequest(r *http.Request, a *auth.Authenticator) (*session, auth.Principal, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, auth.Principal{}, false
	}
	now := ss.now()
	ss.mu.Lock()
	s, ok := ss.byID[ck.Value]
	if ok && (now.Sub(s.created) > sessionMaxAge || now.Sub(s.seen) > sessionIdleFor) {
		delete(ss.byID, ck.Value)
		ok = false
	}
	if ok {
		s.seen = now
	}
	ss.mu.Unlock()
	if !ok {
		return nil, auth.Principal{}, false
	}
	p, ok := authenticateToken(a, s.token)
	if !ok {
		ss.drop(s.id)
		return nil, auth.Principal{}, false
	}
	return s, p, true
}

// authenticateToken resolves a token exactly as the API resolves a bearer
// header.
func authenticateToken(a *auth.Authenticator, token string) (auth.Principal, bool) {
	r := &http.Request{Header: http.Header{"Authorization": {"Bearer " + token}}}
	p, ok := a.Authenticate(r)
	if !ok || p.Role == auth.RoleDevice || p.Role == auth.RoleAgency {
		// Devices and agencies are machines: the console is for people.
		return auth.Principal{}, false
	}
	return p, true
}

// checkCSRF refuses a state-changing request without the session's token
// (form field or header), or from another origin. SameSite=Strict already
// keeps the cookie off cross-site requests; the token covers browsers and
// proxies that do not honour it.
func (s *Server) checkCSRF(r *http.Request, sess *session) error {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return errors.New("request from another origin refused")
		}
	}
	if sess == nil {
		// Sign-in: no session yet; the origin check above and SameSite on
		// the cookie are the protection against login CSRF.
		if r.URL.Path == "/login" {
			return nil
		}
		return errors.New("no session")
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		if err := parseForm(r); err != nil {
			return errors.New("unreadable form")
		}
		got = r.PostFormValue(csrfField)
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
		return errors.New("missing or wrong CSRF token: reload the page and try again")
	}
	return nil
}

// parseForm reads a urlencoded or multipart form, bounded.
func parseForm(r *http.Request) error {
	if r.PostForm != nil {
		return nil
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return r.ParseMultipartForm(1 << 20)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	return r.ParseForm()
}

func (s *Server) setSessionCookie(w http.ResponseWriter, sess *session) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: sess.id, Path: "/", HttpOnly: true, Secure: s.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionMaxAge.Seconds()),
	})
}

type loginData struct {
	Next  string
	Error string
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request, c *call) error {
	if c.Sess != nil {
		http.Redirect(w, r, homeOf(c.P.Role), http.StatusSeeOther)
		return nil
	}
	s.render(w, r, c, http.StatusOK, "login", translate(c.Lang, "login.title"), loginData{Next: safeNext(r.URL.Query().Get("next"))})
	return nil
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := parseForm(r); err != nil {
		return problem.MalformedBody("unreadable form")
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	next := safeNext(r.PostFormValue("next"))
	// Guessing tokens costs the API's request budget, per client address
	// (the API counts per principal, which a guesser does not have).
	if s.API.Limiter != nil {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		if res, err := s.API.Limiter.Allow(r.Context(), "console-login:"+host); err == nil && !res.Allowed {
			return problem.TooManyRequests("too many sign-in attempts from "+host, res.RetryAfter)
		}
	}
	p, ok := authenticateToken(s.Auth, token)
	if !ok {
		s.API.RefusalLog.RecordRefusal(r.Context(), audit.KindAuthRefused, r.RemoteAddr, map[string]string{
			"method": r.Method, "path": r.URL.Path, "reason": "console sign-in with an unknown token",
		})
		s.render(w, r, c, http.StatusUnauthorized, "login", translate(c.Lang, "login.title"),
			loginData{Next: next, Error: translate(c.Lang, "login.unknown")})
		return nil
	}
	if old, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.drop(old.Value) // no session fixation
	}
	sess := s.sessions.create(token)
	s.setSessionCookie(w, sess)
	if next == "" {
		next = homeOf(p.Role)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *call) error {
	s.sessions.drop(c.Sess.id)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return ""
	}
	return next
}

func urlEscape(s string) string { return url.QueryEscape(s) }

// lang is the request's language: the cookie, else the browser's first
// preference among ours, else Vietnamese.
func (s *Server) lang(r *http.Request) string {
	if ck, err := r.Cookie(langCookie); err == nil && supported(ck.Value) {
		return ck.Value
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		if len(tag) >= 2 && supported(tag[:2]) {
			return tag[:2]
		}
	}
	return "vi"
}

func (s *Server) setLang(w http.ResponseWriter, r *http.Request, c *call) error {
	l := r.PathValue("lang")
	if !supported(l) {
		return problem.NotFound("no language " + l)
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", Secure: s.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: 365 * 24 * 3600})
	next := safeNext(r.URL.Query().Get("next"))
	if next == "" {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}
