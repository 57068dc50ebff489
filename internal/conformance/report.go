package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// CheckName names what one line of the report checked.
type CheckName string

// The checks. Each answer gets schema, signature and reference; a valid
// message answer and outcome; an invalid one or a probe outcome.
const (
	CheckAnswer      CheckName = "answer"      // a valid message got a signed ACK/NACK (sync or by callback)
	CheckSchema      CheckName = "schema"      // the answer is valid against the agency's ACK XSD
	CheckSignature   CheckName = "signature"   // it verifies under the agency's profile against its certificate
	CheckContent     CheckName = "content"     // the hub can read its fields (status, ids)
	CheckReference   CheckName = "reference"   // it refers to the message id sent
	CheckOutcome     CheckName = "outcome"     // ACK/NACK for a valid message; a refusal or NACK with a reason for an invalid one
	CheckIdempotency CheckName = "idempotency" // a resend gets the original bytes
	CheckCallback    CheckName = "callback"    // no callback that answers nothing this run sent
)

// Check is one line of the report.
type Check struct {
	Vector    string    `json:"vector"`
	MessageID string    `json:"messageId,omitempty"`
	Check     CheckName `json:"check"`
	Pass      bool      `json:"pass"`
	Detail    string    `json:"detail"`
}

// Report is the outcome of one run.
type Report struct {
	Agency      string    `json:"agency"`
	Endpoint    string    `json:"endpoint"`
	CallbackURL string    `json:"callbackUrl,omitempty"`
	Profile     string    `json:"signatureProfile"`
	Started     time.Time `json:"started"`
	Duration    string    `json:"duration"`
	Passed      int       `json:"passed"`
	Failed      int       `json:"failed"`
	Checks      []Check   `json:"checks"`
	Skipped     []Skip    `json:"skipped,omitempty"`
}

// OK is true when every check passed.
func (r *Report) OK() bool { return r.Failed == 0 && r.Passed > 0 }

// Failures are the checks that failed.
func (r *Report) Failures() []Check {
	return slices.DeleteFunc(slices.Clone(r.Checks), func(c Check) bool { return c.Pass })
}

func (r *Report) count() {
	r.Passed, r.Failed = 0, 0
	for _, c := range r.Checks {
		if c.Pass {
			r.Passed++
		} else {
			r.Failed++
		}
	}
}

func (r *run) pass(vec, id string, c CheckName, format string, a ...any) {
	r.report.Checks = append(r.report.Checks, Check{Vector: vec, MessageID: id, Check: c, Pass: true, Detail: fmt.Sprintf(format, a...)})
}

func (r *run) fail(vec, id string, c CheckName, format string, a ...any) {
	r.report.Checks = append(r.report.Checks, Check{Vector: vec, MessageID: id, Check: c, Detail: fmt.Sprintf(format, a...)})
}

// WriteText prints the report for a person: one line per check, the
// failures' reasons in full, the skipped vectors, and a summary last.
func (r *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "conformance of %s at %s (signature profile %s)\n", r.Agency, r.Endpoint, r.Profile)
	if r.CallbackURL != "" {
		fmt.Fprintf(w, "asynchronous answers expected at %s\n", r.CallbackURL)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range r.Checks {
		verdict := "PASS"
		if !c.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", verdict, c.Vector, c.Check, oneLine(c.Detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped %s: %s\n", s.Vector, s.Reason)
	}
	if fails := r.Failures(); len(fails) > 0 {
		// Repeated at the end, whole: in a run of fifty lines these are
		// the ones the agency's developer came for.
		fmt.Fprintln(w, "\nfailed:")
		for _, c := range fails {
			fmt.Fprintf(w, "  %s %s (message %s): %s\n", c.Vector, c.Check, c.MessageID, oneLine(c.Detail))
		}
	}
	verdict := "PASSED"
	if !r.OK() {
		verdict = "FAILED"
	}
	_, err := fmt.Fprintf(w, "\n%s: %d checks, %d passed, %d failed, in %s\n", verdict, r.Passed+r.Failed, r.Passed, r.Failed, r.Duration)
	return err
}

// WriteJSON prints the report for a script.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// oneLine keeps a reason (libxml2 messages span lines) on its line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
