// Package httpapi is the hub's HTTP interface: routing, authentication and
// authorisation per route, request limits, problem+json errors, request
// logging and metrics. Handlers translate between HTTP and internal/hub and
// hold no business rules of their own.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehub/gatehub/internal/acknowledgements"
	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/agencymsg"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/auth"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/fanout"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/gateconfig"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/lanes"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/metrics"
	"github.com/gatehub/gatehub/internal/operator"
	"github.com/gatehub/gatehub/internal/problem"
	"github.com/gatehub/gatehub/internal/ratelimit"
	"github.com/gatehub/gatehub/internal/refusal"
	"github.com/gatehub/gatehub/internal/refusallog"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/submission"
	"github.com/gatehub/gatehub/internal/tracing"
	"github.com/gatehub/gatehub/internal/txn"
	"github.com/gatehub/gatehub/internal/views"
)

// Server serves the hub's API.
type Server struct {
	// The hub's orchestration, by concept; all required except where a
	// route checks.
	Tx         *txn.Runner
	Submission *submission.Service
	Views      *views.Service
	Operator   *operator.Service
	Acks       *acknowledgements.Service
	GateConfig *gateconfig.Service
	RefusalLog *refusallog.Recorder
	// AgencyMessages receives POST /v1/agencies/{agency}/messages
	// (optional: without it the route answers 404).
	AgencyMessages *agencymsg.Service

	Lanes *lanes.Service
	Auth  *auth.Authenticator
	Gates *gate.Registry
	// Agencies is the agency set in force (deploy/agencies).
	Agencies *agencies.Registry
	// Codes are the code lists declarations are validated against: those
	// the mappings were loaded with. Nil means the shipped ones.
	Codes   declaration.CodeLists
	Bus     fanout.Bus
	Metrics *metrics.Metrics  // optional
	Limiter ratelimit.Limiter // optional: per-principal request budget
	// AckPerSource and AckPerAgency, optional, budget POST /v1/acks by
	// client address and by agency before the body is read.
	AckPerSource ratelimit.Limiter
	AckPerAgency ratelimit.Limiter
	Log          *slog.Logger
	// Ready reports whether the hub can serve (store, signing key) and
	// which dependencies are degraded (Redis, disk space).
	Ready func(ctx context.Context) Readiness
	// Admit, when set, is asked before a new declaration or amendment is
	// read: an error (store.ErrNoSpace) refuses it while everything else
	// (ACKs, deliveries, reads) goes on.
	Admit func(ctx context.Context) error
	// OpenAPI is the API description served at /openapi.yaml.
	OpenAPI []byte
	// Heartbeat is the SSE comment interval that keeps idle proxies from
	// closing device streams.
	Heartbeat time.Duration
	// OnGateApplied is called after a gate configuration was applied, so the
	// caller can persist it (optional).
	OnGateApplied func(ctx context.Context, g *gate.Gate) error
	// ReloadAgencies reads the agency files again and swaps the set in
	// force, or refuses it (POST /v1/admin/agencies/reload). Optional.
	ReloadAgencies func(ctx context.Context) (*agencies.Set, error)
	// BeforeScrape refreshes gauges read from the store (optional), so a
	// scrape reports the outbox as it is, not as of the last refresh.
	BeforeScrape func(ctx context.Context)
	// BodyReadTimeout bounds reading one request body (default
	// DefaultBodyReadTimeout).
	BodyReadTimeout time.Duration
	// StreamsPerPrincipal and StreamsTotal bound live event streams open at
	// once on this instance (defaults 4 and 2000).
	StreamsPerPrincipal, StreamsTotal int
	streams                           streamLimits

	// AuditPageBytes bounds one page of GET /v1/audit (default
	// DefaultAuditPageBytes).
	AuditPageBytes int

	// Console, when set, serves every path that is not an API route (the
	// web console at /), behind the same request id, logging and metrics.
	Console http.Handler
	// Streams, when set, ends every live event stream once it is done. The
	// HTTP server's graceful shutdown waits for active requests, and a
	// stream never finishes on its own: without this, every shutdown would
	// sit out its whole grace period while a lane is subscribed.
	Streams context.Context

	logOnce sync.Once
	logger  *slog.Logger
}

// Route is one registered endpoint. Roles empty means unauthenticated.
type Route struct {
	Method  string
	Pattern string
	Roles   []string
	handle  func(w http.ResponseWriter, r *http.Request, p auth.Principal) error
}

// Routes lists every endpoint; the OpenAPI document is checked against it.
func (s *Server) Routes() []Route {
	const (
		tr  = auth.RoleTrader
		op  = auth.RoleOperator
		ad  = auth.RoleAdmin
		au  = auth.RoleAuditor
		ag  = auth.RoleAgency
		dev = auth.RoleDevice
	)
	return []Route{
		{"GET", "/healthz", nil, s.healthz},
		{"GET", "/readyz", nil, s.readyz},
		{"GET", "/metrics", nil, s.metrics},
		{"GET", "/openapi.yaml", nil, s.openapi},

		{"POST", "/v1/declarations", []string{tr, op}, s.submit},
		{"GET", "/v1/declarations", []string{tr, op, ad, au}, s.listDeclarations},
		{"GET", "/v1/declarations/{id}", []string{tr, op, ad, au}, s.getDeclaration},
		{"PUT", "/v1/declarations/{id}", []string{tr, op}, s.amend},
		{"POST", "/v1/declarations/{id}/cancel", []string{tr, op}, s.cancel},
		{"GET", "/v1/declarations/{id}/decision", []string{tr, op, ad, au}, s.getDecision},
		{"GET", "/v1/declarations/{id}/timeline", []string{tr, op, ad, au}, s.timeline},
		{"POST", "/v1/declarations/{id}/turn-back", []string{op, ad}, s.turnBack},
		{"GET", "/v1/decisions", []string{op, ad, au, dev}, s.decisionsByPlate},
		{"GET", "/v1/messages/{id}", []string{tr, op, ad, au, ag}, s.getMessage},

		// Agencies authenticate by the signature on the ACK itself (checked
		// against that agency's certificates); mTLS or a token is optional on top.
		{"POST", "/v1/acks/{agency}", nil, s.postAck},
		// An agency's own messages (HOLD, RELEASE, REVOKE,
		// CROSSING-CONFIRMED), authenticated like ACKs by their signature.
		{"POST", "/v1/agencies/{agency}/messages", nil, s.postAgencyMessage},

		{"GET", "/v1/admin/outbox", []string{op, ad}, s.listOutbox},
		{"GET", "/v1/admin/overdue", []string{op, ad}, s.listOverdue},
		{"POST", "/v1/admin/outbox/{id}/redrive", []string{op, ad}, s.redrive},
		{"POST", "/v1/admin/outbox/{id}/cancel", []string{op, ad}, s.cancelMessage},
		{"POST", "/v1/admin/agencies/{agency}/redrive", []string{op, ad}, s.redriveAgency},
		{"GET", "/v1/admin/agencies", []string{op, ad, au}, s.listAgencies},
		{"POST", "/v1/admin/agencies/reload", []string{ad}, s.reloadAgencies},
		{"GET", "/v1/gates", []string{op, ad, au}, s.listGates},
		{"PUT", "/v1/admin/gates/{code}", []string{ad}, s.applyGate},

		{"POST", "/v1/devices/readings", []string{dev}, s.deviceReading},
		{"GET", "/v1/gates/{gate}/lanes/{lane}/events", []string{dev, op, ad}, s.laneEvents},
		{"GET", "/v1/gates/{gate}/lanes/{lane}/state", []string{dev, op, ad, au}, s.laneState},
		{"GET", "/v1/admin/alerts", []string{op, ad, au}, s.listAlerts},

		{"GET", "/v1/audit", []string{au, ad}, s.auditList},
	}
}

// RouteRoles returns the roles allowed on the route "METHOD pattern" of
// Routes, so that the console authorises a page exactly like the API call
// it mirrors; nil for an unknown route (nobody).
func (s *Server) RouteRoles(route string) []string {
	for _, rt := range s.Routes() {
		if rt.Method+" "+rt.Pattern == route {
			return rt.Roles
		}
	}
	return nil
}

// Handler returns the root handler with all middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.Routes() {
		mux.Handle(rt.Method+" "+rt.Pattern, s.instrument(rt.Pattern, rt.stream(), s.wrap(rt)))
	}
	unmatched := s.instrument("unmatched", false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			// The path exists, the method does not (RFC 9110 15.5.6).
			w.Header().Set("Allow", strings.Join(allow, ", "))
			problem.Write(w, problem.New(http.StatusMethodNotAllowed, "Method not allowed",
				r.Method+" is not supported here; use "+strings.Join(allow, " or ")))
			return
		}
		problem.Write(w, problem.NotFound("no such endpoint: "+r.Method+" "+r.URL.Path))
	}))
	var console, consoleStreams http.Handler
	if s.Console != nil {
		// The console's live views hold their connection open like the
		// lane stream does, so they stay out of the latency histogram too.
		console = s.instrument("console", false, s.Console)
		consoleStreams = s.instrument("console-stream", true, s.Console)
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if console == nil || strings.HasPrefix(r.URL.Path, "/v1/") || len(allowedMethods(mux, r)) > 0 {
			unmatched.ServeHTTP(w, r)
			return
		}
		info := infoOf(r)
		if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			info.route = "console-stream"
			consoleStreams.ServeHTTP(w, r)
			return
		}
		info.route = "console"
		console.ServeHTTP(w, r)
	}))
	return s.requestContext(mux)
}

// laneEventsPattern is the live event stream (SSE) of a lane.
const laneEventsPattern = "/v1/gates/{gate}/lanes/{lane}/events"

// allowedMethods lists the methods some route serves on r's path, in the
// order of the Allow header; empty when no route has the path.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return allow
}

// stream reports whether the route holds its connection open (SSE).
func (rt Route) stream() bool { return rt.Pattern == laneEventsPattern }

// instrument counts the route's requests and observes their latency
// (metrics.InstrumentRoute), with panics recovered inside, so a handler
// that panics is counted as the 500 its caller receives.
func (s *Server) instrument(route string, stream bool, h http.Handler) http.Handler {
	h = s.recoverer(h)
	if s.Metrics != nil {
		h = s.Metrics.InstrumentRoute(route, stream, h)
	}
	return h
}

// recoverer turns a panic into a 500 problem (when nothing was written yet)
// and an error log line naming the request.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK, lang: problem.Language(r.Header.Get("Accept-Language"))}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log().ErrorContext(r.Context(), "panic in handler", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				if !rec.wrote {
					problem.Write(rec, problem.Internal())
				}
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// requestInfo is what the inner handlers learn about a request that the
// access log, written by the outermost middleware, reports.
type requestInfo struct {
	route     string // matched pattern
	principal string // who was authenticated, "" when nobody
}

type infoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	if ri, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// requestContext assigns a request id (or keeps the caller's) and a trace
// context (or continues the caller's traceparent), recovers panics into a
// problem response and writes the access log line of every request.
func (s *Server) requestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(tracing.HeaderRequestID)
		if !tracing.ValidRequestID(id) {
			id = tracing.NewRequestID()
		}
		tr, ok := tracing.ParseTraceparent(r.Header.Get(tracing.HeaderTraceparent))
		if ok {
			tr = tr.Child() // this request is a span of the caller's trace
		} else {
			tr = tracing.New()
		}
		w.Header().Set(tracing.HeaderRequestID, id)
		w.Header().Set(tracing.HeaderTraceparent, tr.Traceparent())
		info := &requestInfo{}
		ctx := tracing.With(context.WithValue(r.Context(), infoKey{}, info), id, tr)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK, lang: problem.Language(r.Header.Get("Accept-Language"))}
		start := time.Now()
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log().ErrorContext(ctx, "panic in handler", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				if !rec.wrote {
					problem.Write(rec, problem.Internal())
				}
			}
			route := info.route
			if route == "" {
				route = "unmatched"
			}
			principal := info.principal
			if principal == "" {
				principal = "anonymous"
			}
			s.log().LogAttrs(ctx, slog.LevelInfo, "http",
				slog.String("method", r.Method), slog.String("route", route), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.String("principal", principal), slog.String("remote_addr", r.RemoteAddr),
				slog.Int64("duration_ms", time.Since(start).Milliseconds()))
		}()
		next.ServeHTTP(rec, r.WithContext(ctx))
	})
}

func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux sets the matched pattern on its copy of the request, which
		// the outer logging middleware never sees: hand it back.
		info := infoOf(r)
		info.route = rt.Pattern
		route := rt.Method + " " + rt.Pattern
		var p auth.Principal
		if len(rt.Roles) > 0 {
			var ok bool
			p, ok = s.Auth.Authenticate(r)
			if !ok {
				// A source whose requests keep being refused is answered
				// before anything is logged: the audit log cannot be pruned.
				if !s.admitAnonymous(w, r, audit.KindAuthRefused) {
					return
				}
				s.refuseAuth(r, "missing or unknown credentials", true)
				w.Header().Set("WWW-Authenticate", `Bearer realm="gatehub"`)
				problem.Write(w, problem.Unauthorized("present a bearer token or a client certificate"))
				return
			}
			// The budget comes before the role check, so that refusals of
			// a known principal are throttled before they are logged too.
			if !s.allow(w, r, s.Limiter, p.String(), "request budget of "+p.String()+" exhausted") {
				return
			}
			if !slices.Contains(rt.Roles, p.Role) {
				s.refuseAuth(r, "role "+p.Role+" may not call "+rt.Method+" "+rt.Pattern, false)
				info.principal = p.String()
				problem.Write(w, problem.Forbidden("role "+p.Role+" may not use this endpoint"))
				return
			}
			info.principal = p.String()
		}
		// After authentication: who may not call the route learns that
		// first, whatever the body.
		if !s.limitBody(w, r, route) {
			return
		}
		if err := rt.handle(w, r, p); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// allow takes one request from key's budget in l (nil: no budget) and
// answers 429 when it is spent. A failing limiter lets the request through:
// a Redis outage must not close every barrier.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, l ratelimit.Limiter, key, detail string) bool {
	if l == nil {
		return true
	}
	res, err := l.Allow(r.Context(), key)
	if err != nil {
		s.log().WarnContext(r.Context(), "rate limiter unavailable", "error", err)
		return true
	}
	if !res.Allowed {
		problem.Write(w, problem.TooManyRequests(detail, res.RetryAfter))
		return false
	}
	return true
}

// admitAnonymous answers 429, unprocessed and only counted, a request from
// a source that spent its refusal budget.
func (s *Server) admitAnonymous(w http.ResponseWriter, r *http.Request, kind string) bool {
	if s.RefusalLog == nil || s.RefusalLog.Refusals == nil {
		return true
	}
	ok, wait := s.RefusalLog.Refusals.Admit(kind, refusal.Source(r.RemoteAddr))
	if !ok {
		problem.Write(w, problem.TooManyRequests("too many refused requests from this address", wait))
	}
	return ok
}

// authRefusal is the payload of an auth.refused entry: the path is the
// client's (up to the header limit, ~1 MB), so it is kept as a digest.
type authRefusal struct {
	Method string         `json:"method"`
	Path   refusal.Digest `json:"path"`
	Reason string         `json:"reason"`
	Source string         `json:"source"`
}

// refuseAuth records a refused request in the audit log: auditors must see
// what was refused, not only what went through. An anonymous refusal may
// be aggregated with others of its source (internal/refusal).
func (s *Server) refuseAuth(r *http.Request, reason string, anonymous bool) {
	if s.RefusalLog == nil {
		return
	}
	detail := authRefusal{
		Method: refusal.Short(r.Method, 16), Path: refusal.OfString(r.URL.EscapedPath()),
		Reason: refusal.Short(reason, 256), Source: refusal.Source(r.RemoteAddr),
	}
	if anonymous {
		s.RefusalLog.RecordAnonymousRefusal(r.Context(), audit.KindAuthRefused, r.RemoteAddr, "unauthenticated", detail)
		return
	}
	s.RefusalLog.RecordRefusal(r.Context(), audit.KindAuthRefused, r.RemoteAddr, detail)
}

// log is Log (or the default logger) with the request id and trace id of
// the request context added to every line (tracing.LogHandler), whether or
// not the caller's logger already does it.
func (s *Server) log() *slog.Logger {
	s.logOnce.Do(func() {
		l := s.Log
		if l == nil {
			l = slog.Default()
		}
		s.logger = slog.New(tracing.LogHandler(l.Handler()))
	})
	return s.logger
}

// Retry-After of the store's failures: a Postgres restart or failover takes
// seconds; freeing disk space takes an operator, minutes.
const (
	unavailableRetryAfter = 5 * time.Second
	noSpaceRetryAfter     = 60 * time.Second
)

// writeError maps domain errors to problem documents.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := s.Problem(r, err)
	if p == nil {
		return
	}
	problem.Write(w, p)
}

// Problem maps a domain error to its problem document, the one answer the
// API and the console give for it; nil when the caller went away.
func (s *Server) Problem(r *http.Request, err error) *problem.Problem {
	var (
		p        *problem.Problem
		refused  *acknowledgements.RefusedError
		agRefuse *agencymsg.RefusedError
		badValue *mapping.ValueError
	)
	switch {
	case errors.As(err, &p):
	case errors.As(err, &badValue):
		// Valid in general, but an agency this crossing goes to needs the
		// field or cannot carry its value: the trader can fix that. A value
		// that is not from the declaration (pointer "": the whole of it)
		// still cannot be sent; the service log keeps the rule for us.
		if badValue.Pointer == "" {
			s.log().ErrorContext(r.Context(), "mapping refused a value not from the declaration", "error", err)
		}
		name, nameVI := clearance.AgencyName(s.AgencySet(), badValue.Agency)
		fe := problem.FieldError{Pointer: badValue.Pointer, Code: "required", Detail: "required by " + name + " for this crossing",
			DetailVI: "bắt buộc đối với " + nameVI + " cho lượt qua này"}
		if !badValue.Missing {
			fe.Code, fe.Detail = "unsupported", fmt.Sprintf("not accepted by %s: %s", name, badValue.Reason)
			fe.List = badValue.List
			fe.DetailVI = nameVI + " không chấp nhận giá trị này"
		}
		p = problem.Validation([]problem.FieldError{fe})
		p.Status = http.StatusUnprocessableEntity
	case errors.As(err, &refused):
		status := http.StatusUnprocessableEntity
		switch refused.Code {
		case "signature":
			status = http.StatusForbidden
		case "unreadable":
			status = http.StatusBadRequest
		case "conflict":
			status = http.StatusConflict
		}
		p = problem.New(status, "ACK refused", refused.Reason)
		p.Type = "/problems/ack-refused/" + refused.Code
		p.DetailVI = "ACK bị từ chối (mã " + refused.Code + ")"
	case errors.As(err, &agRefuse):
		status := http.StatusUnprocessableEntity
		switch agRefuse.Code {
		case agencymsg.CodeSignature, agencymsg.CodeWrongAgency, agencymsg.CodeKindNotAllowed:
			status = http.StatusForbidden
		case agencymsg.CodeUnreadable, agencymsg.CodeSchema:
			status = http.StatusBadRequest
		case agencymsg.CodeTooLarge:
			status = http.StatusRequestEntityTooLarge
		case agencymsg.CodeConflict, agencymsg.CodeSuperseded, agencymsg.CodeCancelled, agencymsg.CodeNoHold:
			status = http.StatusConflict
		}
		p = problem.New(status, "Agency message refused", agRefuse.Reason)
		p.Type = "/problems/agency-message-refused/" + agRefuse.Code
		p.DetailVI = "thông điệp của cơ quan bị từ chối (mã " + agRefuse.Code + ")"
	case errors.Is(err, hub.ErrNotFound):
		p = problem.NotFound(err.Error())
	case errors.Is(err, hub.ErrConflict), errors.Is(err, hub.ErrInvalidState):
		p = problem.Conflict(err.Error())
	case errors.Is(err, hub.ErrUnknownGate):
		p = problem.Validation([]problem.FieldError{{Pointer: "/gate", Code: "unknown", Detail: err.Error()}})
	case errors.Is(err, store.ErrNoSpace):
		s.log().WarnContext(r.Context(), "request refused: disk space low", "path", r.URL.Path, "error", err)
		p = problem.InsufficientStorage("the hub is low on disk space and accepts no new declarations; what it accepted is still delivered", noSpaceRetryAfter)
	case errors.Is(err, store.ErrUnavailable):
		s.log().WarnContext(r.Context(), "request failed: store unavailable", "path", r.URL.Path, "error", err)
		p = problem.Unavailable("the hub's store is unavailable; nothing of this request was kept", unavailableRetryAfter)
	case errors.Is(err, context.Canceled):
		return nil
	default:
		s.log().ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "error", err)
		p = problem.Internal()
	}
	p.Instance = r.URL.Path
	return p
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	lang   string // of problem documents, from Accept-Language
}

// Language tells problem.Write which language the client asked for.
func (r *statusRecorder) Language() string { return r.lang }

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Flush lets SSE through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
