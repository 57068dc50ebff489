package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestConstructors(t *testing.T) {
	tests := []struct {
		name   string
		p      *Problem
		typ    string
		status int
	}{
		{"new", New(http.StatusTeapot, "", "d"), TypeBlank, http.StatusTeapot},
		{"validation", Validation([]FieldError{{Pointer: "/gate", Code: "required"}}), TypeValidation, 400},
		{"malformed", MalformedBody("invalid JSON at byte offset 3"), TypeMalformedBody, 400},
		{"unauthorized", Unauthorized("no token"), TypeUnauthorized, 401},
		{"forbidden", Forbidden("not your gate"), TypeForbidden, 403},
		{"not found", NotFound("no such declaration"), TypeNotFound, 404},
		{"conflict", Conflict("version 3 expected"), TypeConflict, 409},
		{"too large", TooLarge(1024), TypeTooLarge, 413},
		{"media type", UnsupportedMediaType("text/plain", "application/json"), TypeUnsupportedMediaType, 415},
		{"rate", TooManyRequests("slow down", time.Second), TypeTooManyRequests, 429},
		{"internal", Internal(), TypeInternal, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.p.Type != tt.typ || tt.p.Status != tt.status {
				t.Errorf("got type %q status %d, want %q %d", tt.p.Type, tt.p.Status, tt.typ, tt.status)
			}
			if tt.p.Title == "" {
				t.Error("empty title")
			}
		})
	}
}

func TestWrite(t *testing.T) {
	p := Validation([]FieldError{{Pointer: "/vehicle/plateCN", Code: "format", Detail: "must look like 桂A12345"}})
	p.Instance = "/v1/declarations"
	rec := httptest.NewRecorder()
	Write(rec, p)

	if rec.Code != http.StatusBadRequest {
		t.Errorf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != ContentType {
		t.Errorf("content type %q", ct)
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if got["type"] != TypeValidation || got["status"] != float64(400) || got["instance"] != "/v1/declarations" {
		t.Errorf("body %v", got)
	}
	errs, _ := got["errors"].([]any)
	if len(errs) != 1 || errs[0].(map[string]any)["pointer"] != "/vehicle/plateCN" {
		t.Errorf("errors %v", got["errors"])
	}
	if !strings.Contains(rec.Body.String(), "桂A12345") {
		t.Error("non-ASCII text should be sent as UTF-8, not escaped away")
	}
	if _, ok := got["RetryAfter"]; ok {
		t.Error("RetryAfter leaked into the body")
	}
}

func TestWriteRetryAfterRoundsUp(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, TooManyRequests("", 1500*time.Millisecond))
	if got := rec.Header().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q, want 2", got)
	}
}

func TestWriteRefusesNonErrorStatus(t *testing.T) {
	for _, p := range []*Problem{nil, {Status: 200, Title: "ok"}} {
		rec := httptest.NewRecorder()
		Write(rec, p)
		if rec.Code != 500 {
			t.Errorf("%v: status %d, want 500", p, rec.Code)
		}
	}
}

func TestFrom(t *testing.T) {
	nf := NotFound("x")
	if got := From(fmt.Errorf("loading: %w", nf)); got != nf {
		t.Errorf("wrapped problem not found: %v", got)
	}
	got := From(errors.New("pq: password authentication failed"))
	if got.Status != 500 || strings.Contains(got.Detail, "password") {
		t.Errorf("internal error leaked: %+v", got)
	}
}

func TestErrorString(t *testing.T) {
	p := Validation([]FieldError{
		{Pointer: "/a", Code: "required"}, {Pointer: "/b", Code: "format"},
		{Pointer: "/c", Code: "range"}, {Pointer: "/d", Code: "type"},
	})
	want := "400 Invalid request: 4 field(s) failed validation; /a required; /b format; /c range; and 1 more"
	if got := p.Error(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
