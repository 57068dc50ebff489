// Package problem renders errors as RFC 9457 problem details
// (application/problem+json), so every client of the hub — trader portals,
// agency callbacks, gate devices — parses failures the same way.
//
// Type URIs are relative references resolved against the hub's base URL;
// each names one kind of failure and is stable, so clients may switch on it:
//
//	/problems/validation              400  the body parsed but fields are wrong; see errors
//	/problems/malformed-body          400  the body is not one JSON object (syntax, empty, trailing data)
//	/problems/unauthorized            401  no or bad credentials
//	/problems/forbidden               403  authenticated, but not allowed
//	/problems/not-found               404  the addressed resource does not exist
//	/problems/conflict                409  the request contradicts current state (e.g. stale version)
//	/problems/too-large               413  the body exceeds the size limit
//	/problems/unsupported-media-type  415  wrong Content-Type
//	/problems/too-many-requests       429  rate limited; Retry-After is set when known
//	/problems/internal                500  our fault; the detail never carries internals
//	/problems/unavailable             503  a dependency (the store) cannot serve now; retry after Retry-After
//	/problems/insufficient-storage    507  the hub's disk is low; new work is refused, retry after Retry-After
//
// New with any other status uses "about:blank", as RFC 9457 section 4.2.1
// prescribes for problems that carry no more meaning than the status code.
//
// Field errors (the "errors" extension member) point at the offending input
// with an RFC 6901 JSON Pointer and carry a machine-readable code:
//
//	required            the field is missing or empty
//	format              the value does not have the expected shape
//	range               the value is outside the allowed interval
//	unknown             the value is not in the reference list (gate, lane, country, currency)
//	unknown_field       the field does not exist in the schema
//	type                wrong JSON type (e.g. string where a number is expected)
//	too_long            the string exceeds its maximum length
//	too_many            the list exceeds its maximum length
//	duplicate           the field or list entry appears more than once
//	not_allowed         the value is forbidden in this context
//	check_digit         the value is well formed but its check digit is wrong
//	invalid_characters  invalid UTF-8 or control characters
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Type URIs, see the package comment.
const (
	TypeValidation           = "/problems/validation"
	TypeMalformedBody        = "/problems/malformed-body"
	TypeUnauthorized         = "/problems/unauthorized"
	TypeForbidden            = "/problems/forbidden"
	TypeNotFound             = "/problems/not-found"
	TypeConflict             = "/problems/conflict"
	TypeTooLarge             = "/problems/too-large"
	TypeUnsupportedMediaType = "/problems/unsupported-media-type"
	TypeTooManyRequests      = "/problems/too-many-requests"
	TypeInternal             = "/problems/internal"
	TypeUnavailable          = "/problems/unavailable"
	TypeInsufficientStorage  = "/problems/insufficient-storage"
	TypeBlank                = "about:blank"
)

// ContentType is the media type of a problem document.
const ContentType = "application/problem+json"

// FieldError is one violated rule on one input field.
type FieldError struct {
	Pointer string `json:"pointer"` // RFC 6901 JSON pointer, e.g. /consignments/0/hsCode
	Code    string `json:"code"`    // see the package comment
	Detail  string `json:"detail"`  // human-readable, English
	// List names the code list (mappings/codes/<list>.yaml) a code was not
	// found in, for code errors.
	List string `json:"list,omitempty"`
	// DetailVI, when set, is Detail in Vietnamese (see Localized).
	DetailVI string `json:"-"`
}

// Problem is an RFC 9457 problem details object. It is also an error so that
// lower layers can return it unchanged up to the HTTP handler.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`

	// DetailVI, when set, is Detail in Vietnamese (see Localized).
	DetailVI string `json:"-"`

	// RetryAfter, when positive, is sent as the Retry-After header; it is
	// a header rather than a member because that is where HTTP clients and
	// proxies look for it.
	RetryAfter time.Duration `json:"-"`
}

// Error summarises the problem on one line, listing the first field errors,
// for logs and for callers that are not HTTP handlers.
func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", p.Status, p.Title)
	if p.Detail != "" {
		b.WriteString(": ")
		b.WriteString(p.Detail)
	}
	const shown = 3
	for i, fe := range p.Errors {
		if i == shown {
			fmt.Fprintf(&b, "; and %d more", len(p.Errors)-shown)
			break
		}
		fmt.Fprintf(&b, "; %s %s", fe.Pointer, fe.Code)
	}
	return b.String()
}

// New returns a problem that means no more than its status code.
// An empty title becomes the status text.
func New(status int, title, detail string) *Problem {
	if title == "" {
		title = http.StatusText(status)
	}
	return &Problem{Type: TypeBlank, Title: title, Status: status, Detail: detail}
}

func typed(typ string, status int, title, detail string) *Problem {
	return &Problem{Type: typ, Title: title, Status: status, Detail: detail}
}

// Validation reports every violated field of an otherwise readable body.
func Validation(errs []FieldError) *Problem {
	p := typed(TypeValidation, http.StatusBadRequest, "Invalid request",
		fmt.Sprintf("%d field(s) failed validation", len(errs)))
	p.Errors = errs
	return p
}

// MalformedBody reports a body that is not a single JSON document; detail
// should say where (byte offset) and why.
func MalformedBody(detail string) *Problem {
	return typed(TypeMalformedBody, http.StatusBadRequest, "Malformed request body", detail)
}

// Unauthorized reports missing or invalid credentials.
func Unauthorized(detail string) *Problem {
	return typed(TypeUnauthorized, http.StatusUnauthorized, "Unauthorized", detail)
}

// Forbidden reports an authenticated caller acting outside its rights.
func Forbidden(detail string) *Problem {
	return typed(TypeForbidden, http.StatusForbidden, "Forbidden", detail)
}

// NotFound reports that the addressed resource does not exist.
func NotFound(detail string) *Problem {
	return typed(TypeNotFound, http.StatusNotFound, "Not found", detail)
}

// Conflict reports a request that contradicts the current state.
func Conflict(detail string) *Problem {
	return typed(TypeConflict, http.StatusConflict, "Conflict", detail)
}

// TooLarge reports a body above limit bytes.
func TooLarge(limit int64) *Problem {
	p := typed(TypeTooLarge, http.StatusRequestEntityTooLarge, "Request body too large",
		fmt.Sprintf("the request body exceeds the limit of %d bytes", limit))
	p.DetailVI = fmt.Sprintf("nội dung yêu cầu vượt giới hạn %d byte", limit)
	return p
}

// UnsupportedMediaType reports a Content-Type other than the accepted ones.
func UnsupportedMediaType(got string, accepted ...string) *Problem {
	if got == "" {
		got = "(none)"
	}
	return typed(TypeUnsupportedMediaType, http.StatusUnsupportedMediaType, "Unsupported media type",
		fmt.Sprintf("content type %q is not accepted; use %s", got, strings.Join(accepted, " or ")))
}

// TooManyRequests reports rate limiting; retryAfter <= 0 omits Retry-After.
func TooManyRequests(detail string, retryAfter time.Duration) *Problem {
	p := typed(TypeTooManyRequests, http.StatusTooManyRequests, "Too many requests", detail)
	p.RetryAfter = retryAfter
	return p
}

// Internal reports our own failure. The detail is deliberately generic:
// the cause belongs in the server log, not in the response.
func Internal() *Problem {
	return typed(TypeInternal, http.StatusInternalServerError, "Internal server error",
		"the request could not be processed; it has been logged")
}

// Unavailable reports a dependency that cannot serve now; the same request
// may succeed after retryAfter. The detail names the dependency, not its error.
func Unavailable(detail string, retryAfter time.Duration) *Problem {
	p := typed(TypeUnavailable, http.StatusServiceUnavailable, "Service unavailable", detail)
	p.RetryAfter = retryAfter
	return p
}

// InsufficientStorage reports that the hub refuses new work because its
// disk is low; what it accepted before is still being settled.
func InsufficientStorage(detail string, retryAfter time.Duration) *Problem {
	p := typed(TypeInsufficientStorage, http.StatusInsufficientStorage, "Insufficient storage", detail)
	p.RetryAfter = retryAfter
	return p
}

// From returns the *Problem inside err, or Internal when err is not one,
// so handlers can write any error without leaking its text.
func From(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) && p != nil {
		return p
	}
	return Internal()
}

// Write sends p with its status code and the problem+json content type.
// A nil p or a status outside 400..599 is written as Internal, because a
// problem document with a success status would confuse every client.
func Write(w http.ResponseWriter, p *Problem) {
	if p == nil || p.Status < 400 || p.Status > 599 {
		p = Internal()
	}
	h := w.Header()
	if l, ok := w.(languager); ok {
		lang := l.Language()
		p = p.Localized(lang)
		h.Set("Content-Language", lang)
	}
	h.Add("Vary", "Accept-Language")
	body, err := json.Marshal(p)
	if err != nil {
		// Only unencodable floats or channels could fail; Problem has none.
		body = []byte(`{"type":"/problems/internal","title":"Internal server error","status":500}`)
	}
	h.Set("Content-Type", ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	if p.RetryAfter > 0 {
		secs := int64((p.RetryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}
