package httpapi

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/agencymsg"
	"github.com/gatehub/gatehub/internal/problem"
)

// Body limits per route, checked before a handler runs: a Content-Length
// above the limit is refused unread, and a body that turns out longer is
// cut at the limit. Routes not listed (the GETs) take no body at all.
var bodyLimits = map[string]int64{
	"POST /v1/declarations":                    MaxDeclarationBytes,
	"PUT /v1/declarations/{id}":                MaxDeclarationBytes,
	"POST /v1/declarations/{id}/cancel":        4 << 10,
	"POST /v1/declarations/{id}/turn-back":     4 << 10,
	"POST /v1/acks/{agency}":                   ack.MaxBytes,
	"POST /v1/agencies/{agency}/messages":      agencymsg.MaxBytes,
	"PUT /v1/admin/gates/{code}":               1 << 20,
	"POST /v1/devices/readings":                16 << 10,
	"POST /v1/admin/outbox/{id}/redrive":       0,
	"POST /v1/admin/outbox/{id}/cancel":        0,
	"POST /v1/admin/agencies/{agency}/redrive": 0,
	"POST /v1/admin/agencies/reload":           0,
	"GET /v1/gates/{gate}/lanes/{lane}/events": 0,
}

// BodyLimit is the body limit of a route ("METHOD pattern"), in bytes.
func BodyLimit(route string) int64 { return bodyLimits[route] }

// DefaultBodyReadTimeout bounds reading one request body when the server
// is not told otherwise.
const DefaultBodyReadTimeout = 30 * time.Second

// limitBody applies the route's body limit and read deadline. It answers
// 413 itself (and returns false) for a declared length above the limit.
func (s *Server) limitBody(w http.ResponseWriter, r *http.Request, route string) bool {
	limit := bodyLimits[route]
	if r.ContentLength > limit {
		p := problem.TooLarge(limit)
		if limit == 0 {
			p.Detail = "this endpoint takes no request body"
		}
		// The body stays unread: close rather than drain a large one.
		w.Header().Set("Connection", "close")
		problem.Write(w, p)
		return false
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		timeout := s.BodyReadTimeout
		if timeout <= 0 {
			timeout = DefaultBodyReadTimeout
		}
		// A client trickling its body holds a connection only this long.
		// Streams take no body, and their deadline stays unset: the read
		// deadline would end them.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
	}
	return true
}

// readBody reads a request body already limited by limitBody, mapping
// what can go wrong to the client's problem: 413 above the limit, 408 for
// a body not sent in time, 400 for a broken one.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(r.Body)
	if err == nil {
		// Read in time: the deadline must not cut the rest of the exchange
		// (the server watches the idle connection for the client leaving).
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
		return data, nil
	}
	return nil, bodyError(err)
}

// bodyError maps an error of reading a request body.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return problem.TooLarge(mbe.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		p := problem.New(http.StatusRequestTimeout, "Request timeout", "the request body was not received in time")
		return p
	}
	return problem.MalformedBody("could not read body: " + err.Error())
}

// streamLimits bounds live event streams open at once on this instance,
// per principal and in all.
type streamLimits struct {
	mu    sync.Mutex
	open  map[string]int
	total int
}

// acquire takes a stream slot for principal, or says why not.
func (l *streamLimits) acquire(principal string, perPrincipal, total int) (release func(), refused *problem.Problem) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open == nil {
		l.open = map[string]int{}
	}
	switch {
	case l.total >= total:
		return nil, problem.TooManyRequests("this hub instance serves "+strconv.Itoa(total)+" live event streams already; retry, or connect to another instance", 5*time.Second)
	case l.open[principal] >= perPrincipal:
		return nil, problem.TooManyRequests(principal+" has "+strconv.Itoa(perPrincipal)+" live event streams open already; close one first", 5*time.Second)
	}
	l.open[principal]++
	l.total++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.open[principal]--; l.open[principal] <= 0 {
				delete(l.open, principal)
			}
		})
	}, nil
}
