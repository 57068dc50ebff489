package problem

import (
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
)

func TestLanguage(t *testing.T) {
	for in, want := range map[string]string{
		"":                        LangEN,
		"vi":                      LangVI,
		"vi-VN,vi;q=0.9,en;q=0.8": LangVI,
		"en-US,en;q=0.9,vi;q=0.8": LangEN,
		"fr, vi;q=0.5":            LangVI,
		"fr":                      LangEN,
		"vi;q=0":                  LangEN,
		"VI-vn":                   LangVI,
	} {
		if got := Language(in); got != want {
			t.Errorf("Language(%q) = %q, want %q", in, got, want)
		}
	}
}

// vietnamese: the text has Vietnamese letters and none of the English
// words a problem says.
func vietnamese(s string) bool {
	has := false
	for _, r := range s {
		if r > unicode.MaxASCII && unicode.IsLetter(r) {
			has = true
		}
	}
	for _, w := range []string{"the ", "field", "must", "request", "required", "invalid"} {
		if strings.Contains(strings.ToLower(s), w) {
			return false
		}
	}
	return has
}

type langRecorder struct {
	*httptest.ResponseRecorder
	lang string
}

func (l langRecorder) Language() string { return l.lang }

func TestLocalizedHasNoEnglish(t *testing.T) {
	problems := []*Problem{
		Validation([]FieldError{{Pointer: "/vehicle/plateVN", Code: "format", Detail: "must look like 12C-12345"},
			{Pointer: "/gate", Code: "unknown", Detail: "no gate NOWHERE"}, {Pointer: "/x", Code: "some_new_code", Detail: "x"}}),
		MalformedBody("invalid character at offset 3"), Unauthorized("present a bearer token"),
		Forbidden("role trader may not use this endpoint"), NotFound("declaration D1"), Conflict("stale version"),
		TooLarge(4096), UnsupportedMediaType("text/plain", "application/json"), TooManyRequests("budget", 0), Internal(),
		New(405, "Method not allowed", "DELETE is not supported here"), New(408, "Request timeout", "slow"),
		New(422, "ACK refused", "signature bad"), New(503, "Not ready", "store down"),
	}
	for _, p := range problems {
		vi := p.Localized(LangVI)
		if !vietnamese(vi.Title) || (vi.Detail != "" && !vietnamese(vi.Detail)) {
			t.Errorf("%d %s: %q / %q is not Vietnamese", p.Status, p.Type, vi.Title, vi.Detail)
		}
		for _, fe := range vi.Errors {
			if !vietnamese(fe.Detail) || fe.Pointer == "" && fe.Code == "" {
				t.Errorf("field error %+v is not Vietnamese", fe)
			}
		}
		if en := p.Localized(LangEN); en != p {
			t.Errorf("English is not the problem itself")
		}
	}
	rec := langRecorder{httptest.NewRecorder(), LangVI}
	Write(rec, TooLarge(10))
	if rec.Header().Get("Content-Language") != "vi" || !strings.Contains(rec.Body.String(), "vượt giới hạn 10 byte") {
		t.Fatalf("written: %v %s", rec.Header(), rec.Body.String())
	}
}
