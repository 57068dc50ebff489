// Package metrics defines the hub's Prometheus metrics. Each hub owns its own
// registry (rather than the global default) so that tests can run several
// hubs in one process and read each one's numbers.
//
// Label values are bounded sets: agencies, gates, route patterns (never raw
// paths), reason codes. Counters whose label values are known at start are
// created at zero (Init), because increase() and rate() need two samples:
// a series that appears with its first event at 1 never shows an increase,
// and the alert on the first dead letter of an agency would never fire.
package metrics

import (
	"crypto/x509"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehub/gatehub/internal/version"
)

// Label values known in advance, repeated here (not imported) so that this
// package stays a leaf; Init's callers pass the rest.
var (
	deliveryOutcomes = []string{"delivered", "temporary", "permanent"}
	messageKinds     = []string{"submit", "amend", "cancel"}
	// MessageStates are the states of gatehub_messages, every one reported
	// (at 0 when empty) so a dashboard or alert never sees a gap.
	MessageStates    = []string{"pending", "sent", "acked", "nacked", "dead", "cancelled", "superseded"}
	decisionStatuses = []string{"CLEARED", "HOLD", "REJECTED", "PENDING", "CANCELLED"}
	laneActions      = []string{"OPEN", "KEEP-CLOSED"}
	// AckRefusalCodes are the reasons the hub refuses an ACK (acknowledgements.RefusedError.Code).
	AckRefusalCodes = []string{"signature", "unreadable", "unknown_message", "wrong_agency", "conflict", "superseded", "cancelled"}
	// RefusalKinds are the audit kinds of refused requests (refusallog.Recorder.RecordRefusal).
	RefusalKinds = []string{"auth.refused", "declaration.refused", "config.refused"}
)

// Metrics holds the collectors. The zero value is not usable; call New.
type Metrics struct {
	Registry   *prometheus.Registry
	durability // events relayed, store retries (durability.go)

	messagesCreated *prometheus.CounterVec
	messages        *prometheus.GaugeVec
	oldestPending   *prometheus.GaugeVec
	attempts        *prometheus.CounterVec
	deliveryLatency *prometheus.HistogramVec
	ackLatency      *prometheus.HistogramVec
	acksRefused     *prometheus.CounterVec
	deadLetters     *prometheus.CounterVec
	decisions       *prometheus.CounterVec
	refusals        *prometheus.CounterVec
	httpRequests    *prometheus.CounterVec
	httpLatency     *prometheus.HistogramVec
	httpStreams     *prometheus.GaugeVec
	laneDecisions   *prometheus.CounterVec
	certs           *certCollector

	circuitOnce sync.Once
	circuit     *prometheus.GaugeVec // see DeliveryCircuit
	laneAlerts  *prometheus.CounterVec

	countsMu sync.Mutex
	counted  map[[2]string]int // pairs SetMessageCounts has reported
	oldest   map[string]bool   // agencies SetOldestPending has reported
}

// New registers every collector, plus the Go runtime and process collectors
// and gatehub_build_info.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		messagesCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehub_messages_created_total", Help: "Outbound agency messages created, by agency and kind (submit, amend, cancel).",
		}, []string{"agency", "kind"}),
		messages: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehub_messages", Help: "Outbound messages currently in the store, by agency and state; pending is the outbox depth. Read from the shared store: every instance reports the same value.",
		}, []string{"agency", "state"}),
		oldestPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehub_outbox_oldest_pending_age_seconds", Help: "Age of the oldest message still pending delivery, by agency; 0 when none is pending. Read from the shared store.",
		}, []string{"agency"}),
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
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehub_refusals_total", Help: "Refused requests recorded in the audit log, by kind (auth.refused, declaration.refused, config.refused).",
		}, []string{"kind"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehub_http_requests_total", Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		httpLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehub_http_request_duration_seconds", Help: "HTTP request latency by route pattern and method; live event streams are not included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route", "method"}),
		httpStreams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehub_http_streams_open", Help: "Live event streams (SSE) open now, by route pattern.",
		}, []string{"route"}),
		laneDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehub_lane_decisions_total", Help: "Lane decisions answered to gate devices, by gate and action.",
		}, []string{"gate", "action"}),
		certs: newCertCollector(),
		laneAlerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehub_lane_security_alerts_total", Help: "Security alerts raised at lanes (a QR code naming another truck than the camera read), by gate and code.",
		}, []string{"gate", "code"}),
	}
	info := version.Get()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatehub_build_info", Help: "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": info.Version, "revision": info.Commit, "goversion": info.GoVersion},
	})
	buildInfo.Set(1)
	for _, c := range decisionStatuses {
		m.decisions.WithLabelValues(c)
	}
	for _, k := range RefusalKinds {
		m.refusals.WithLabelValues(k)
	}
	r.MustRegister(m.messagesCreated, m.messages, m.oldestPending, m.attempts, m.deliveryLatency, m.ackLatency, m.acksRefused,
		m.deadLetters, m.decisions, m.refusals, m.httpRequests, m.httpLatency, m.httpStreams, m.laneDecisions, m.laneAlerts, m.certs, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.durability = newDurability(r)
	return m
}

// Init creates at zero the series of every agency and every gate, so that
// the first event of each is an increase a rule can see. Call it at start
// and again when gates are applied; calling it twice is harmless.
func (m *Metrics) Init(agencies, gates []string) {
	for _, a := range agencies {
		m.deadLetters.WithLabelValues(a)
		m.oldestPending.WithLabelValues(a)
		for _, o := range deliveryOutcomes {
			m.attempts.WithLabelValues(a, o)
		}
		for _, k := range messageKinds {
			m.messagesCreated.WithLabelValues(a, k)
		}
		for _, c := range AckRefusalCodes {
			m.acksRefused.WithLabelValues(a, c)
		}
		m.countsMu.Lock()
		for _, s := range MessageStates {
			m.messages.WithLabelValues(a, s)
		}
		m.countsMu.Unlock()
	}
	for _, g := range gates {
		for _, act := range laneActions {
			m.laneDecisions.WithLabelValues(g, act)
		}
	}
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
func (m *Metrics) Refused(kind string)            { m.refusals.WithLabelValues(kind).Inc() }
func (m *Metrics) LaneDecision(gate, action string) {
	m.laneDecisions.WithLabelValues(gate, action).Inc()
}
func (m *Metrics) LaneSecurityAlert(gate, code string) {
	m.laneAlerts.WithLabelValues(gate, code).Inc()
}

// InstrumentRoute wraps the handler of one route with client_golang's
// promhttp instrumentation: requests counted by route, method and numeric
// status code, latency observed by route and method. A stream (SSE) is
// counted and tracked as open but kept out of the latency histogram: it
// lasts as long as the device stays connected, and minutes-long
// "requests" would swamp every latency quantile. route is the pattern
// ("/v1/declarations/{id}"), never the raw path.
func (m *Metrics) InstrumentRoute(route string, stream bool, h http.Handler) http.Handler {
	labels := prometheus.Labels{"route": route}
	counter := m.httpRequests.MustCurryWith(labels)
	if stream {
		return promhttp.InstrumentHandlerInFlight(m.httpStreams.With(labels),
			promhttp.InstrumentHandlerCounter(counter, h))
	}
	return promhttp.InstrumentHandlerCounter(counter,
		promhttp.InstrumentHandlerDuration(m.httpLatency.MustCurryWith(labels), h))
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

// SetOldestPending reports, per agency, when its oldest pending message was
// created; agencies absent from oldest (nothing pending) read 0.
func (m *Metrics) SetOldestPending(oldest map[string]time.Time, now time.Time) {
	m.countsMu.Lock()
	defer m.countsMu.Unlock()
	seen := make(map[string]bool, len(oldest))
	for a, t := range oldest {
		m.oldestPending.WithLabelValues(a).Set(max(now.Sub(t).Seconds(), 0))
		seen[a] = true
	}
	for a := range m.oldest {
		if !seen[a] {
			m.oldestPending.WithLabelValues(a).Set(0)
			seen[a] = true
		}
	}
	m.oldest = seen
}

// Certificate is one certificate whose expiry is exported.
type Certificate struct {
	Participant string // "hub" or an agency id
	Role        string // "hub" (the hub's own signing key) or "agency" (trusted for ACKs)
	Cert        *x509.Certificate
	// Until is when the hub stops using or accepting it: the certificate's
	// NotAfter, or the end of its trust window when that is earlier. Zero
	// means NotAfter.
	Until time.Time
}

// WatchCertificates makes every scrape report the expiry of the
// certificates list returns at that moment (the trust store can change
// while the hub runs).
func (m *Metrics) WatchCertificates(list func() []Certificate) { m.certs.set(list) }

// certCollector reads certificates at scrape time, so a rotation shows up
// without a refresh loop.
type certCollector struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	list func() []Certificate
}

func newCertCollector() *certCollector {
	return &certCollector{desc: prometheus.NewDesc("gatehub_certificate_expiry_timestamp_seconds",
		"When the hub's signing certificate (role hub) and each agency's newest trusted certificate (role agency) stop being valid (NotAfter, or the end of the trust window), as a Unix time; alert on it minus time().",
		[]string{"participant", "role", "fingerprint"}, nil)}
}

func (c *certCollector) set(list func() []Certificate) {
	c.mu.Lock()
	c.list = list
	c.mu.Unlock()
}

func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	list := c.list
	c.mu.Unlock()
	if list == nil {
		return
	}
	seen := map[[3]string]bool{}
	for _, cert := range list() {
		fp := fingerprint(cert.Cert)
		key := [3]string{cert.Participant, cert.Role, fp}
		if seen[key] {
			continue // the same certificate listed twice would fail the whole scrape
		}
		seen[key] = true
		until := cert.Until
		if until.IsZero() || until.After(cert.Cert.NotAfter) {
			until = cert.Cert.NotAfter
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(until.Unix()), key[:]...)
	}
}
