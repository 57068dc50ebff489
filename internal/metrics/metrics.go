// Package metrics defines the hub's Prometheus metrics. Each hub owns its own
// registry (rather than the global default) so that tests can run several
// hubs in one process and read each one's numbers.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors. The zero value is not usable; call New.
type Metrics struct {
	Registry   *prometheus.Registry
	durability // events relayed, store retries (durability.go)

	messagesCreated *prometheus.CounterVec
	messages        *prometheus.GaugeVec
	attempts        *prometheus.CounterVec
	deliveryLatency *prometheus.HistogramVec
	ackLatency      *prometheus.HistogramVec
	acksRefused     *prometheus.CounterVec
	deadLetters     *prometheus.CounterVec
	decisions       *prometheus.CounterVec
	httpRequests    *prometheus.CounterVec
	httpLatency     *prometheus.HistogramVec
	laneDecisions   *prometheus.CounterVec
	laneAlerts      *prometheus.CounterVec

	countsMu sync.Mutex
	counted  map[[2]string]int // pairs SetMessageCounts has reported
}

// New registers every collector, plus the Go runtime and process collectors.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		messagesCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehub_messages_created_total", Help: "Outbound agency messages created, by agency and kind (submit, amend, cancel).",
		}, []string{"agency", "kind"}),
		messages: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehub_messages", Help: "Outbound messages currently in the store, by agency and state; pending is the outbox depth.",
		}, []string{"agency", "state"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehub_delivery_attempts_total", Help: "Delivery attempts, by agency and outcome (delivered, temporary, permanent).",
		}, []string{"agency", "outcome"}),
		deliveryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehub_delivery_duration_seconds", Help: "Duration of one delivery attempt, in-call retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"agency"}),
		ackLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehub_ack_latency_seconds", Help: "Time from successful delivery to the agency's ACK or NACK.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 14),
		}, []string{"agency", "status"}),
		acksRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehub_acks_refused_total", Help: "ACKs refused, by agency and reason code.",
		}, []string{"agency", "code"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehub_dead_letters_total", Help: "Messages moved to dead-letter, by agency.",
		}, []string{"agency"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehub_decisions_total", Help: "Clearance decision changes, by resulting status.",
		}, []string{"status"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehub_http_requests_total", Help: "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "code"}),
		httpLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehub_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route"}),
		laneDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehub_lane_decisions_total", Help: "Lane decisions answered to gate devices, by gate and action.",
		}, []string{"gate", "action"}),
		laneAlerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehub_lane_security_alerts_total", Help: "Security alerts raised at lanes (a QR code naming another truck than the camera read), by gate and code.",
		}, []string{"gate", "code"}),
	}
	r.MustRegister(m.messagesCreated, m.messages, m.attempts, m.deliveryLatency, m.ackLatency, m.acksRefused,
		m.deadLetters, m.decisions, m.httpRequests, m.httpLatency, m.laneDecisions, m.laneAlerts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.durability = newDurability(r)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

func (m *Metrics) MessageCreated(agency, kind string) {
	m.messagesCreated.WithLabelValues(agency, kind).Inc()
}

func (m *Metrics) DeliveryAttempt(agency, outcome string, d time.Duration) {
	m.attempts.WithLabelValues(agency, outcome).Inc()
	m.deliveryLatency.WithLabelValues(agency).Observe(d.Seconds())
}

func (m *Metrics) AckReceived(agency, status string, latency time.Duration) {
	m.ackLatency.WithLabelValues(agency, status).Observe(latency.Seconds())
}

func (m *Metrics) AckRefused(agency, code string) { m.acksRefused.WithLabelValues(agency, code).Inc() }
func (m *Metrics) DeadLettered(agency string)     { m.deadLetters.WithLabelValues(agency).Inc() }
func (m *Metrics) Decision(status string)         { m.decisions.WithLabelValues(status).Inc() }
func (m *Metrics) LaneDecision(gate, action string) {
	m.laneDecisions.WithLabelValues(gate, action).Inc()
}
func (m *Metrics) LaneSecurityAlert(gate, code string) {
	m.laneAlerts.WithLabelValues(gate, code).Inc()
}

// HTTPRequest records one served request under its route pattern (never the
// raw path, whose ids would explode the label set).
func (m *Metrics) HTTPRequest(route string, code int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, http.StatusText(code)).Inc()
	m.httpLatency.WithLabelValues(route).Observe(d.Seconds())
}

// SetMessageCounts replaces the per agency/state gauge with a fresh count
// from the store. A pair counted before but absent now is set to 0 rather
// than the gauge being reset first: a scrape running concurrently would
// otherwise see an empty outbox, and a drained queue should read 0, not
// vanish from the alert expression.
func (m *Metrics) SetMessageCounts(counts map[[2]string]int) {
	m.countsMu.Lock()
	defer m.countsMu.Unlock()
	seen := make(map[[2]string]int, len(counts))
	for k, n := range counts {
		m.messages.WithLabelValues(k[0], k[1]).Set(float64(n))
		seen[k] = n
	}
	for k := range m.counted {
		if _, ok := seen[k]; !ok {
			m.messages.WithLabelValues(k[0], k[1]).Set(0)
			seen[k] = 0
		}
	}
	m.counted = seen
}
