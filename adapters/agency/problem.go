package agency

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// ProblemContentType is the RFC 9457 media type agencies use for refusals.
const ProblemContentType = "application/problem+json"

// Problem is an RFC 9457 problem details document. Code is an extension
// member carrying a machine-readable refusal reason (e.g. SCHEMA-INVALID) so
// the hub can record why without parsing prose.
type Problem struct {
	Type     string `json:"type,omitempty"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Code     string `json:"code,omitempty"`
}

func (p Problem) Error() string {
	if p.Detail != "" {
		return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
	}
	return fmt.Sprintf("%d %s", p.Status, p.Title)
}

// WriteProblem answers a request with p as problem+json.
func WriteProblem(w http.ResponseWriter, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	w.Header().Set("Content-Type", ProblemContentType)
	w.WriteHeader(p.Status)
	// The status line is already out; an encoding failure cannot be reported.
	_ = json.NewEncoder(w).Encode(p)
}

// ParseProblem reads a problem document from an agency answer. ok is false
// when the body is not one, in which case the caller should record the raw
// status instead.
func ParseProblem(contentType string, body []byte) (Problem, bool) {
	if contentType != "" && !strings.HasPrefix(strings.ToLower(contentType), ProblemContentType) {
		return Problem{}, false
	}
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Status == 0 && p.Title == "" {
		return Problem{}, false
	}
	return p, true
}
