package console

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/views"
)

// TimelineEvent is one step of a declaration's crossing, as its live page
// lists it.
type TimelineEvent struct {
	Time   time.Time
	Kind   string // i18n key suffix: declared, sent, ack, nack, decision, crossing
	Agency string
	Detail string
	Status string // for colouring: ACK, NACK, CLEARED, HOLD …
}

// TimelineSource lists the steps of a declaration the caller may already
// see (v was read through the API's visibility check). Today's source is
// ViewTimeline, built from the declaration's own messages, ACKs and
// decision. Checkpoint passages (gate-in, weighbridge, border marker) are
// added by a source over the crossing records once the hub stores them:
// Merged{ViewTimeline{}, crossings} keeps the one list in time order.
type TimelineSource interface {
	Timeline(ctx context.Context, v *views.DeclarationView) ([]TimelineEvent, error)
}

// ViewTimeline derives the timeline from the declaration view alone:
// declared, each message queued and delivered, each ACK/NACK, the current
// decision.
type ViewTimeline struct{}

// Timeline implements TimelineSource.
func (ViewTimeline) Timeline(_ context.Context, v *views.DeclarationView) ([]TimelineEvent, error) {
	// The view holds the current version's time only: for an amended
	// declaration that is the amendment (v1's acceptance is in the log).
	kind := "declared"
	if v.Version > 1 {
		kind = "amended"
	}
	out := []TimelineEvent{{Time: v.CreatedAt, Kind: kind, Detail: fmt.Sprintf("v%d", v.Version)}}
	for _, m := range v.Messages {
		out = append(out, TimelineEvent{Time: m.CreatedAt, Kind: "queued", Agency: m.Agency, Detail: string(m.Kind) + fmt.Sprintf(" v%d", m.Version)})
		if !m.SentAt.IsZero() {
			out = append(out, TimelineEvent{Time: m.SentAt, Kind: "sent", Agency: m.Agency, Detail: string(m.Kind)})
		}
		if m.Ack != nil {
			detail := m.Ack.ReasonCode
			if m.Ack.ReasonText != "" {
				detail = strings.TrimSpace(detail + " " + m.Ack.ReasonText)
			}
			out = append(out, TimelineEvent{Time: m.Ack.ReceivedAt, Kind: strings.ToLower(m.Ack.Status), Agency: m.Agency, Detail: detail, Status: m.Ack.Status})
		}
	}
	if !v.Decision.DecidedAt.IsZero() {
		out = append(out, TimelineEvent{Time: v.Decision.DecidedAt, Kind: "decision", Detail: string(v.Decision.Status), Status: string(v.Decision.Status)})
	}
	sortTimeline(out)
	return out, nil
}

// Merged is several sources as one timeline.
type Merged []TimelineSource

// Timeline implements TimelineSource.
func (ms Merged) Timeline(ctx context.Context, v *views.DeclarationView) ([]TimelineEvent, error) {
	var out []TimelineEvent
	for _, m := range ms {
		evs, err := m.Timeline(ctx, v)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	sortTimeline(out)
	return out, nil
}

func sortTimeline(evs []TimelineEvent) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
}

// DwellSource reports how long trucks stayed at each checkpoint, for the
// statistics. Without one the statistics take the checkpoint passages the
// crossings logged (stats.Report.Dwell).
type DwellSource interface {
	Dwell(ctx context.Context, from, to time.Time) ([]DwellRow, error)
}

// DwellRow is one checkpoint's dwell time distribution.
type DwellRow struct {
	Gate, Checkpoint string
	Count            int
	P50, P95         time.Duration
}

// sse writes server-sent events.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startSSE(w http.ResponseWriter) (*sse, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, rc: http.NewResponseController(w)}
	if err := s.rc.Flush(); err != nil {
		return nil, fmt.Errorf("streaming unsupported: %w", err)
	}
	return s, nil
}

// send writes one event; data may span lines.
func (s *sse) send(event, data string) error {
	var b strings.Builder
	b.WriteString("event: ")
	b.WriteString(event)
	b.WriteByte('\n')
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: ")
		b.WriteString(strings.TrimSuffix(line, "\r"))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	if _, err := s.w.Write([]byte(b.String())); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sse) comment() error {
	if _, err := s.w.Write([]byte(": keep-alive\n\n")); err != nil {
		return err
	}
	return s.rc.Flush()
}

// streamContext ends with the request or at shutdown (Streams).
func (s *Server) streamContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	if s.Streams != nil {
		stop := context.AfterFunc(s.Streams, cancel)
		return ctx, func() { stop(); cancel() }
	}
	return ctx, cancel
}
