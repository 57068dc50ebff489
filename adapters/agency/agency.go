// Package agency holds what every agency adapter shares: the description of
// an agency endpoint (Spec, from its agency file), the outcome
// classification of one delivery attempt, the HTTP transport that performs
// that attempt, and the RFC 9457 problem documents agencies use to refuse a
// message. What differs per agency is data: deploy/agencies, mappings/,
// schemas/ and, for the simulators, simulators/.
package agency

import (
	"github.com/gatehub/gatehub/internal/outbox"
	"net/http"
	"time"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/sign"
)

// Spec describes how to talk to one agency (SpecOf its agency file). Name
// is the agency code used in mappings/, schemas/, callback URLs and as the
// agency's participant name in the trust store.
type Spec struct {
	Name         string
	DisplayName  string
	ContentType  string
	ExtraHeaders map[string]string
	// Timeout bounds one POST to this agency; zero means the transport default.
	// It is per agency because the slow ones (the Guangxi single window sits
	// behind a cross-border link) must not set the budget for the fast ones.
	Timeout time.Duration
	// Signature is the agency's signature profile: how our messages to it
	// are signed and how its ACKs must be. Zero means sign.DefaultProfile
	// (exclusive C14N, RSA/ECDSA-SHA256).
	Signature sign.Profile
}

// SignatureProfile is the agency's profile, the default when unset.
func (s Spec) SignatureProfile() sign.Profile {
	if s.Signature.Name == "" {
		return sign.DefaultProfile
	}
	return s.Signature
}

// DefaultContentType is what the hub sends when a Spec leaves ContentType empty.
const DefaultContentType = "application/xml; charset=utf-8"

// Headers on the hub → agency POST.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderMessageID      = "X-Gatehub-Message-Id"
)

// Response is what came back from one POST, reduced to what the hub needs.
type Response struct {
	Status      int
	Body        []byte
	ContentType string        // to tell a problem+json refusal from an XML ACK
	RetryAfter  time.Duration // zero when the agency gave no (usable) Retry-After
	Async       bool          // 202: the signed ACK/NACK will arrive on the callback URL
}

// Classify turns one attempt into the outbox's delivery outcome. Anything that is not clearly
// a refusal is Temporary: a resend with the same message id is safe because
// agencies answer duplicates with the original ACK, so erring towards retry
// never duplicates a declaration, while erring towards Permanent would strand
// a truck.
func Classify(resp Response, err error) outbox.Outcome {
	if err != nil {
		return outbox.Temporary
	}
	switch s := resp.Status; {
	case s == http.StatusAccepted:
		return outbox.Delivered
	case s >= 200 && s < 300:
		// A success without the ACK body is a broken answer; resending fetches
		// the stored ACK from the agency's idempotency record.
		if len(resp.Body) == 0 {
			return outbox.Temporary
		}
		return outbox.Delivered
	case s == http.StatusRequestTimeout, s == http.StatusTooEarly, s == http.StatusTooManyRequests:
		return outbox.Temporary
	case s >= 400 && s < 500:
		return outbox.Permanent
	case s >= 300 && s < 400:
		// Redirects the client did not follow mean a misconfigured endpoint;
		// retrying the same URL cannot help.
		return outbox.Permanent
	default:
		return outbox.Temporary
	}
}

// SpecOf is the transport description of an agency file.
func SpecOf(a *agencies.Agency) Spec {
	return Spec{
		Name:         string(a.Code),
		DisplayName:  a.Names.EN,
		ContentType:  a.Endpoint.ContentType,
		ExtraHeaders: a.Endpoint.Headers,
		Timeout:      a.Endpoint.Timeout,
		Signature:    a.Signature,
	}
}
