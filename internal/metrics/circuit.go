package metrics

import "github.com/prometheus/client_golang/prometheus"

// DeliveryCircuit records whether an agency's delivery circuit is open
// (1: the hub stopped claiming its messages, probing now and then) or
// closed (0). Registered on first use, so hubs without lanes expose none.
func (m *Metrics) DeliveryCircuit(agency string, open bool) {
	m.circuitOnce.Do(func() {
		m.circuit = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehub_delivery_circuit_open",
			Help: "1 while the agency's delivery circuit is open (failing agency, probed after a cooldown), else 0.",
		}, []string{"agency"})
		m.Registry.MustRegister(m.circuit)
	})
	v := 0.0
	if open {
		v = 1
	}
	m.circuit.WithLabelValues(agency).Set(v)
}
