// Package httpapi is the hub's HTTP interface: routing, authentication and
// authorisation per route, request limits, problem+json errors, request
// logging and metrics. Handlers translate between HTTP and internal/hub and
// hold no business rules of their own.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/auth"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/fanout"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/metrics"
	"github.com/gatehub/gatehub/internal/problem"
	"github.com/gatehub/gatehub/internal/ratelimit"
)

// Server serves the hub's API.
type Server struct {
	Hub     *hub.Hub
	Auth    *auth.Authenticator
	Gates   *gate.Registry
	Bus     fanout.Bus
	Metrics *metrics.Metrics  // optional
	Limiter ratelimit.Limiter // optional: per-principal request budget
	Log     *slog.Logger
	// Ready reports whether the hub can serve (store, Redis, signing key).
	Ready func(ctx context.Context) error
	// OpenAPI is the API description served at /openapi.yaml.
	OpenAPI []byte
	// Heartbeat is the SSE comment interval that keeps idle proxies from
	// closing device streams.
	Heartbeat time.Duration
	// OnGateApplied is called after a gate configuration was applied, so the
	// caller can persist it (optional).
	OnGateApplied func(ctx context.Context, g *gate.Gate) error
	// BeforeScrape refreshes gauges read from the store (optional), so a
	// scrape reports the outbox as it is, not as of the last refresh.
	BeforeScrape func(ctx context.Context)
	// Console, when set, serves every path that is not an API route (the
	// web console at /), behind the same request id, logging and metrics.
	Console http.Handler
	// Streams, when set, ends every live event stream once it is done. The
	// HTTP server's graceful shutdown waits for active requests, and a
	// stream never finishes on its own: without this, every shutdown would
	// sit out its whole grace period while a lane is subscribed.
	Streams context.Context
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
		{"GET", "/v1/decisions", []string{op, ad, au, dev}, s.decisionsByPlate},
		{"GET", "/v1/messages/{id}", []string{tr, op, ad, au, ag}, s.getMessage},

		// Agencies authenticate by the signature on the ACK itself (checked
		// against that agency's certificates); mTLS or a token is optional on top.
		{"POST", "/v1/acks/{agency}", nil, s.postAck},

		{"GET", "/v1/admin/outbox", []string{op, ad}, s.listOutbox},
		{"GET", "/v1/admin/overdue", []string{op, ad}, s.listOverdue},
		{"POST", "/v1/admin/outbox/{id}/redrive", []string{op, ad}, s.redrive},
		{"POST", "/v1/admin/outbox/{id}/cancel", []string{op, ad}, s.cancelMessage},
		{"GET", "/v1/gates", []string{op, ad, au}, s.listGates},
		{"PUT", "/v1/admin/gates/{code}", []string{ad}, s.applyGate},

		{"POST", "/v1/devices/readings", []string{dev}, s.deviceReading},
		{"GET", "/v1/gates/{gate}/lanes/{lane}/events", []string{dev, op, ad}, s.laneEvents},

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
		mux.Handle(rt.Method+" "+rt.Pattern, s.wrap(rt))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s.Console != nil && !strings.HasPrefix(r.URL.Path, "/v1/") {
			if rec, ok := w.(*statusRecorder); ok {
				rec.route = "console"
			}
			s.Console.ServeHTTP(w, r)
			return
		}
		problem.Write(w, problem.NotFound("no such endpoint: "+r.Method+" "+r.URL.Path))
	})
	return s.requestContext(mux)
}

type ctxKey int

const requestIDKey ctxKey = 1

// requestContext assigns a request id (or keeps the caller's), recovers
// panics into a problem response and logs every request.
func (s *Server) requestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() {
			if v := recover(); v != nil {
				s.log().Error("panic in handler", "request_id", id, "path", r.URL.Path, "panic", v)
				if !rec.wrote {
					problem.Write(rec, problem.Internal())
				}
			}
			route := rec.route
			if route == "" {
				route = "unmatched"
			}
			if s.Metrics != nil {
				s.Metrics.HTTPRequest(route, rec.status, time.Since(start))
			}
			s.log().Info("http", "request_id", id, "method", r.Method, "route", route, "path", r.URL.Path,
				"status", rec.status, "duration_ms", time.Since(start).Milliseconds())
		}()
		next.ServeHTTP(rec, r.WithContext(ctx))
	})
}

func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux sets the matched pattern on its copy of the request, which
		// the outer logging middleware never sees: hand it back.
		if rec, ok := w.(*statusRecorder); ok {
			rec.route = rt.Method + " " + rt.Pattern
		}
		var p auth.Principal
		if len(rt.Roles) > 0 {
			var ok bool
			p, ok = s.Auth.Authenticate(r)
			if !ok {
				s.refuseAuth(r, "missing or unknown credentials")
				w.Header().Set("WWW-Authenticate", `Bearer realm="gatehub"`)
				problem.Write(w, problem.Unauthorized("present a bearer token or a client certificate"))
				return
			}
			if !slices.Contains(rt.Roles, p.Role) {
				s.refuseAuth(r, "role "+p.Role+" may not call "+rt.Method+" "+rt.Pattern)
				problem.Write(w, problem.Forbidden("role "+p.Role+" may not use this endpoint"))
				return
			}
			if s.Limiter != nil {
				res, err := s.Limiter.Allow(r.Context(), p.String())
				if err != nil {
					// Fail open: a Redis outage must not close every barrier.
					s.log().Warn("rate limiter unavailable", "err", err)
				} else if !res.Allowed {
					problem.Write(w, problem.TooManyRequests("request budget of "+p.String()+" exhausted", res.RetryAfter))
					return
				}
			}
		}
		if err := rt.handle(w, r, p); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// refuseAuth records a refused request in the audit log: auditors must see
// what was refused, not only what went through.
func (s *Server) refuseAuth(r *http.Request, reason string) {
	if s.Hub == nil {
		return
	}
	s.Hub.RecordRefusal(r.Context(), audit.KindAuthRefused, r.RemoteAddr, map[string]string{
		"method": r.Method, "path": r.URL.Path, "reason": reason,
	})
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

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
		refused  *hub.RefusedError
		badValue *mapping.ValueError
	)
	switch {
	case errors.As(err, &p):
	case errors.As(err, &badValue) && badValue.Pointer != "":
		// Valid in general, but an agency this crossing goes to needs the
		// field or cannot carry its value: the trader can fix that.
		name, _ := clearance.AgencyName(badValue.Agency)
		fe := problem.FieldError{Pointer: badValue.Pointer, Code: "required", Detail: "required by " + name + " for this crossing"}
		if !badValue.Missing {
			fe.Code, fe.Detail = "unsupported", fmt.Sprintf("not accepted by %s: %s", name, badValue.Reason)
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
	case errors.Is(err, hub.ErrNotFound):
		p = problem.NotFound(err.Error())
	case errors.Is(err, hub.ErrConflict), errors.Is(err, hub.ErrInvalidState):
		p = problem.Conflict(err.Error())
	case errors.Is(err, hub.ErrUnknownGate):
		p = problem.Validation([]problem.FieldError{{Pointer: "/gate", Code: "unknown", Detail: err.Error()}})
	case errors.Is(err, context.Canceled):
		return nil
	default:
		s.log().Error("request failed", "request_id", r.Context().Value(requestIDKey), "path", r.URL.Path, "err", err)
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
	route  string // "METHOD pattern" of the matched route
}

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
