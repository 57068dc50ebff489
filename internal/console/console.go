// Package console is the hub's web console for traders, gate operators,
// auditors and province administrators: server-rendered html/template pages
// with a little progressive JavaScript (EventSource for the live views),
// every asset embedded, no build step.
//
// The console is a second face of the API, not a second path to the data:
// every page calls the same hub methods as the API route it mirrors, is
// authorised by that route's roles (httpapi.Server.RouteRoles), hides other
// traders' declarations with the same check (httpapi.Visible), reads bodies
// with the same decoder (httpapi.Server.DecodeDeclaration) and maps errors
// to the same problem documents (httpapi.Server.Problem).
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/auth"
	"github.com/gatehub/gatehub/internal/fanout"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/httpapi"
	"github.com/gatehub/gatehub/internal/problem"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Roles of the console's own pages, which have no API route to mirror.
// They follow the issue: statistics for operators, admins and auditors;
// the live log's verification and archive for auditors and admins (the
// roles of GET /v1/audit).
var (
	statsRoles = []string{auth.RoleOperator, auth.RoleAdmin, auth.RoleAuditor}
)

// Server serves the console.
type Server struct {
	// API is the hub's API; the console calls the same orchestration
	// through it, under the same authorisation.
	API   *httpapi.Server
	Auth  *auth.Authenticator
	Gates *gate.Registry
	Bus   fanout.Bus
	Log   *slog.Logger
	// Secure marks the session cookie Secure: set when the hub serves TLS.
	Secure bool
	// Export writes an audit archive of the live log (gatehubctl audit
	// export's format) to w. Optional: without it the download is absent.
	Export func(ctx context.Context, w io.Writer) error
	// Timeline lists what happened to a declaration, for its live page.
	// Optional: the default derives it from the declaration view.
	Timeline TimelineSource
	// Dwell reports time spent at checkpoints for the statistics. Optional:
	// nothing records checkpoint passages yet.
	Dwell DwellSource
	// Streams ends live streams at shutdown (see httpapi.Server.Streams).
	Streams context.Context
	// Now is the clock of sessions (tests); time.Now when nil.
	Now func() time.Time

	sessions *sessions
	verifies *verifyJobs
	pages    map[string]*template.Template
}

// New checks s and prepares its templates.
func New(s *Server) (*Server, error) {
	if s.API == nil || s.Auth == nil || s.Gates == nil || s.Bus == nil {
		return nil, errors.New("console: API, Auth, Gates and Bus are required")
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Timeline == nil {
		s.Timeline = ViewTimeline{}
	}
	s.sessions = newSessions(s.Now)
	s.verifies = &verifyJobs{jobs: map[string]*verifyJob{}}
	if err := s.parse(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) parse() error {
	funcs := template.FuncMap{
		"fmtTime": fmtTime, "fmtDur": fmtDur, "join": strings.Join,
		"agencyName":  func(lang, agency string) string { return agencyName(s.API.AgencySet(), lang, agency) },
		"statusClass": statusClass, "add": func(a, b int) int { return a + b },
		"arr":  func(xs ...any) []any { return xs },
		"list": func(xs ...string) []string { return xs },
		"int":  func(n int64) int { return int(n) },
		"idem": func() string { return randomID()[:24] },
		"sub": func(v *view, data any) *view {
			c := *v
			c.Data = data
			return &c
		},
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html")
	if err != nil {
		return fmt.Errorf("console templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	s.pages = map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || base == "parts" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return fmt.Errorf("console template %s: %w", n, err)
		}
		s.pages[base] = t
	}
	return nil
}

// handler is a console page: p is the signed-in principal (zero on public
// pages), sess its session.
type handler func(w http.ResponseWriter, r *http.Request, c *call) error

// call is one request's context for a page.
type call struct {
	P    auth.Principal
	Sess *session
	Lang string
}

// Handler returns the console's routes. Unknown paths under /v1/ keep the
// API's problem+json 404.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(http.FileServerFS(static))))
	pub := func(pattern string, h handler) { mux.Handle(pattern, s.page(h, nil, false)) }
	page := func(pattern string, roles []string, h handler) { mux.Handle(pattern, s.page(h, roles, true)) }
	api := s.API.RouteRoles

	pub("GET /{$}", s.home)
	pub("GET /login", s.loginForm)
	pub("POST /login", s.login)
	mux.Handle("POST /logout", s.page(s.logout, nil, true))
	pub("GET /lang/{lang}", s.setLang)

	page("GET /declarations", api("GET /v1/declarations"), s.declarationList)
	page("GET /declarations/new", api("POST /v1/declarations"), s.declarationNew)
	page("POST /declarations", api("POST /v1/declarations"), s.declarationSubmit)
	page("GET /declarations/{id}", api("GET /v1/declarations/{id}"), s.declarationPage)
	page("GET /declarations/{id}/live", api("GET /v1/declarations/{id}"), s.declarationLive)
	page("GET /declarations/{id}/messages/{mid}", api("GET /v1/messages/{id}"), s.messageXML)
	page("GET /declarations/{id}/amend", api("PUT /v1/declarations/{id}"), s.amendForm)
	page("POST /declarations/{id}/amend", api("PUT /v1/declarations/{id}"), s.amendSubmit)
	page("POST /declarations/{id}/cancel", api("POST /v1/declarations/{id}/cancel"), s.cancelDeclaration)

	page("GET /gates", api("GET /v1/gates"), s.gateList)
	page("GET /gates/{code}/board", api("GET /v1/gates/{gate}/lanes/{lane}/events"), s.board)
	page("GET /gates/{code}/board/live", api("GET /v1/gates/{gate}/lanes/{lane}/events"), s.boardLive)
	page("GET /outbox", api("GET /v1/admin/outbox"), s.outbox)
	page("GET /outbox/{id}/{op}", api("POST /v1/admin/outbox/{id}/redrive"), s.outboxConfirm)
	page("POST /outbox/{id}/{op}", api("POST /v1/admin/outbox/{id}/redrive"), s.outboxOperate)

	page("GET /audit", api("GET /v1/audit"), s.auditSearch)
	page("GET /audit/entries/{seq}", api("GET /v1/audit"), s.auditEntry)
	page("POST /audit/verify", api("GET /v1/audit"), s.verifyStart)
	page("GET /audit/verify/{job}", api("GET /v1/audit"), s.verifyPage)
	page("GET /audit/verify/{job}/live", api("GET /v1/audit"), s.verifyLive)
	page("GET /audit/archive", api("GET /v1/audit"), s.archive)

	page("GET /stats", statsRoles, s.stats)
	page("GET /stats/{chart}", statsRoles, s.statsCSV)

	page("GET /admin/gates", api("PUT /v1/admin/gates/{code}"), s.gateFileForm)
	page("POST /admin/gates", api("PUT /v1/admin/gates/{code}"), s.gateFileSubmit)

	return securityHeaders(mux)
}

func cacheFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// securityHeaders: no framing (clickjacking of the redrive buttons), no
// inline script (the templates have none), no sniffing.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// page wraps h: session, role and CSRF checks. roles nil with auth true
// means any signed-in principal.
func (s *Server) page(h handler, roles []string, needAuth bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{Lang: s.lang(r)}
		sess, p, ok := s.sessions.fromRequest(r, s.Auth)
		if ok {
			c.P, c.Sess = p, sess
		}
		if needAuth && !ok {
			if r.Method == http.MethodGet && !isStream(r) {
				http.Redirect(w, r, "/login?next="+urlEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.fail(w, r, c, problem.Unauthorized("sign in first"))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := s.checkCSRF(r, c.Sess); err != nil {
				s.API.RefusalLog.RecordRefusal(r.Context(), audit.KindAuthRefused, r.RemoteAddr, map[string]string{
					"method": r.Method, "path": r.URL.Path, "reason": err.Error(),
				})
				s.fail(w, r, c, problem.Forbidden(err.Error()))
				return
			}
		}
		if needAuth && roles != nil && !slices.Contains(roles, p.Role) {
			s.API.RefusalLog.RecordRefusal(r.Context(), audit.KindAuthRefused, r.RemoteAddr, map[string]string{
				"method": r.Method, "path": r.URL.Path, "reason": "role " + p.Role + " may not use console page " + r.URL.Path,
			})
			s.fail(w, r, c, problem.Forbidden("role "+p.Role+" may not use this page"))
			return
		}
		if err := h(w, r, c); err != nil {
			s.fail(w, r, c, err)
		}
	})
}

func isStream(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// fail renders err as an error page with the API's status and wording.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, c *call, err error) {
	p := s.API.Problem(r, err)
	if p == nil {
		return
	}
	if isStream(r) {
		http.Error(w, p.Detail, p.Status)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, c, p.Status, "error", p.Title, p)
}

// view is what every template receives.
type view struct {
	Title string
	C     *call
	CSRF  string
	Path  string
	Nav   []navItem
	Data  any
}

type navItem struct {
	Href, Key string
	Current   bool
}

// T translates key into the request's language.
func (v *view) T(key string) string { return translate(v.C.Lang, key) }

// Tf translates and formats.
func (v *view) Tf(key string, args ...any) string {
	return fmt.Sprintf(translate(v.C.Lang, key), args...)
}

// Is tells whether the signed-in principal has one of roles.
func (v *view) Is(roles ...string) bool { return slices.Contains(roles, v.C.P.Role) }

// Reason picks a reason's text in the request's language.
func (v *view) Reason(en, vi string) string {
	if v.C.Lang == "vi" && vi != "" {
		return vi
	}
	return en
}

func (s *Server) nav(c *call, path string) []navItem {
	if c.Sess == nil {
		return nil
	}
	var out []navItem
	add := func(route string, roles []string, href, key string) {
		if roles == nil && route != "" {
			roles = s.API.RouteRoles(route)
		}
		if slices.Contains(roles, c.P.Role) {
			out = append(out, navItem{Href: href, Key: key, Current: path == href || strings.HasPrefix(path, href+"/")})
		}
	}
	add("GET /v1/declarations", nil, "/declarations", "nav.declarations")
	add("GET /v1/gates/{gate}/lanes/{lane}/events", nil, "/gates", "nav.gates")
	add("GET /v1/admin/outbox", nil, "/outbox", "nav.outbox")
	add("GET /v1/audit", nil, "/audit", "nav.audit")
	add("", statsRoles, "/stats", "nav.stats")
	add("PUT /v1/admin/gates/{code}", nil, "/admin/gates", "nav.admin")
	return out
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, c *call, status int, name, title string, data any) {
	t, ok := s.pages[name]
	if !ok {
		http.Error(w, "no template "+name, http.StatusInternalServerError)
		return
	}
	v := &view{Title: title, C: c, Path: r.URL.Path, Nav: s.nav(c, r.URL.Path), Data: data}
	if c.Sess != nil {
		v.CSRF = c.Sess.csrf
	}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		s.Log.Error("console template", "page", name, "err", err)
		http.Error(w, "page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if c.Sess != nil {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, buf.String())
}

// fragment renders one named template of page name without the layout, for
// the live views' SSE updates.
func (s *Server) fragment(c *call, r *http.Request, page, name string, data any) (string, error) {
	t, ok := s.pages[page]
	if !ok {
		return "", fmt.Errorf("no template %s", page)
	}
	v := &view{C: c, Path: r.URL.Path, Data: data}
	if c.Sess != nil {
		v.CSRF = c.Sess.csrf
	}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, name, v); err != nil {
		return "", fmt.Errorf("render %s/%s: %w", page, name, err)
	}
	return buf.String(), nil
}

func (s *Server) home(w http.ResponseWriter, r *http.Request, c *call) error {
	if c.Sess == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, homeOf(c.P.Role), http.StatusSeeOther)
	return nil
}

func homeOf(role string) string {
	switch role {
	case auth.RoleTrader:
		return "/declarations"
	case auth.RoleOperator:
		return "/gates"
	case auth.RoleAuditor:
		return "/audit"
	case auth.RoleAdmin:
		return "/admin/gates"
	}
	return "/login"
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(gateZone).Format("2006-01-02 15:04:05")
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%.1fmin", d.Minutes())
	}
	return fmt.Sprintf("%.1fh", d.Hours())
}

// gateZone is the local time of the gates on the Vietnam–China border
// (UTC+7, no daylight saving): what traders and operators read on a clock.
var gateZone = time.FixedZone("ICT", 7*3600)

// statusClass is the badge class of any of the typed statuses the pages
// show (decision statuses, message states, ACK statuses, lane actions):
// templates pass them as they are, and a template function's parameter
// of type string would refuse them.
func statusClass(status any) string {
	switch strings.ToUpper(fmt.Sprint(status)) {
	case "CLEARED", "ACK", "ACKED", "OPEN":
		return "ok"
	case "REJECTED", "NACK", "NACKED", "DEAD", "KEEP-CLOSED":
		return "bad"
	case "HOLD", "OVERDUE":
		return "warn"
	}
	return "neutral"
}
