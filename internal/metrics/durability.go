package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// durability holds the metrics of the store's transactions and of the
// durable event relay.
type durability struct {
	storeRetries    *prometheus.CounterVec
	eventsPublished prometheus.Counter
	eventBacklog    prometheus.Gauge
}

func newDurability(r *prometheus.Registry) durability {
	d := durability{
		storeRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehub_store_tx_retries_total",
			Help: "Store transactions run again after Postgres aborted them, by SQLSTATE: 40P01 deadlock (should stay 0: one lock order), 40001 serialization failure.",
		}, []string{"sqlstate"}),
		eventsPublished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehub_events_published_total",
			Help: "Durable lane and decision events this instance's relay published to the fan-out bus.",
		}),
		eventBacklog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehub_event_backlog_seconds",
			Help: "Age of the oldest lane or decision event stored but not yet published to the fan-out bus (0: none), as last seen by this instance's relay; grows while Redis is down.",
		}),
	}
	r.MustRegister(d.storeRetries, d.eventsPublished, d.eventBacklog)
	// Present from the start, so an alert on any increase has a baseline.
	d.storeRetries.WithLabelValues("40P01")
	d.storeRetries.WithLabelValues("40001")
	return d
}

// StoreRetry counts one transaction retried after SQLSTATE code.
func (d durability) StoreRetry(code string) { d.storeRetries.WithLabelValues(code).Inc() }

// EventsPublished counts n events relayed to the bus.
func (d durability) EventsPublished(n int) { d.eventsPublished.Add(float64(n)) }

// EventBacklog records the age of the oldest unpublished event.
func (d durability) EventBacklog(oldest time.Duration) { d.eventBacklog.Set(oldest.Seconds()) }
