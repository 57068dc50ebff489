package acknowledgements

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/internal/outbox"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/tracing"
)

// Endpoint is where one agency receives messages.
type Endpoint struct {
	Spec agency.Spec
	URL  string
}

// Sender delivers stored messages to agency endpoints over HTTP. It is the
// only place where the outbox meets an agency's transport.
type Sender struct {
	Transport *agency.Transport
	Endpoints map[string]Endpoint
	Now       func() time.Time
	// Acks, when set, reads a synchronous ACK as soon as it arrives,
	// before the transaction that records the attempt (VerifyAck).
	// Optional.
	Acks *Service
}

// Send implements outbox.Sender.
func (s *Sender) Send(ctx context.Context, m store.Message) outbox.Result {
	ep, ok := s.Endpoints[m.Agency]
	if !ok || ep.URL == "" {
		// Configuration, not the agency, is at fault: keep retrying so the
		// message goes out once an operator adds the endpoint.
		return outbox.Result{Outcome: outbox.Temporary, Err: fmt.Errorf("no endpoint configured for agency %s", m.Agency)}
	}
	start := s.Now()
	// The agency sees the id of the request that caused the message and a
	// span of its trace (tracing.Inject in the transport), however long after
	// the request, and on whichever instance, the message goes out.
	if m.RequestID != "" || m.TraceID != "" {
		ctx = tracing.With(ctx, m.RequestID, tracing.FromTraceID(m.TraceID))
	}
	resp, err := s.Transport.Post(ctx, ep.Spec, ep.URL, m.ID, m.Body)
	r := outbox.Result{Status: resp.Status, RetryAfter: resp.RetryAfter, Err: err, Duration: s.Now().Sub(start)}
	r.Outcome = agency.Classify(resp, err)
	switch r.Outcome {
	case outbox.Delivered:
		if !resp.Async {
			r.Body = resp.Body
			if s.Acks != nil && len(r.Body) > 0 {
				r.BodyRead = s.Acks.VerifyAck(m, r.Body)
			}
		}
	case outbox.Permanent:
		if p, ok := agency.ParseProblem(resp.ContentType, resp.Body); ok {
			r.Err = p
		} else if r.Err == nil {
			r.Err = fmt.Errorf("refused by %s", m.Agency)
		}
	}
	return r
}
