package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehub/gatehub/internal/problem"
)

// query reads a list endpoint's parameters strictly: a filter value that
// cannot match anything, or a limit that is not a number, is the caller's
// mistake and gets 400 naming the parameter, not an empty 200 that looks
// like "nothing there".
type query struct {
	v    url.Values
	errs []problem.FieldError
}

func newQuery(r *http.Request) *query { return &query{v: r.URL.Query()} }

func (q *query) get(name string) string { return q.v.Get(name) }

func (q *query) fail(name, code, detail string) {
	vi := map[string]string{"format": "sai định dạng", "unknown": "giá trị không tồn tại", "required": "bắt buộc"}[code]
	q.errs = append(q.errs, problem.FieldError{Pointer: "", Code: code, Detail: "query parameter " + name + ": " + detail,
		DetailVI: "tham số truy vấn " + name + ": " + vi})
}

// limit is the limit parameter: def when absent, at most maxLimit.
func (q *query) limit(def, maxLimit int) int {
	v := q.v.Get("limit")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		q.fail("limit", "format", fmt.Sprintf("must be a whole number from 1 to %d", maxLimit))
		return def
	}
	return min(n, maxLimit)
}

// enum is a filter whose value must be one of allowed (empty: no filter).
func (q *query) enum(name string, allowed []string) string {
	v := q.v.Get(name)
	if v != "" && !slices.Contains(allowed, v) {
		q.fail(name, "unknown", fmt.Sprintf("%q is not one of %s", shorten(v), strings.Join(allowed, ", ")))
	}
	return v
}

// err is the 400 for everything wrong, or nil.
func (q *query) err() error {
	if len(q.errs) == 0 {
		return nil
	}
	return problem.Validation(q.errs)
}

func shorten(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
