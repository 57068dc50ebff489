package metrics

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Counters of every agency exist at 0 before their first event: that is
// what lets increase() see the first dead letter.
func TestInitCreatesSeriesAtZero(t *testing.T) {
	m := New()
	m.Init([]string{"customs", "guangxi"}, []string{"HUUNGHI"})
	m.Init([]string{"customs"}, []string{"HUUNGHI", "CHIMA"}) // again, with a new gate: harmless
	for name, want := range map[string]int{
		"gatehub_dead_letters_total":      2,
		"gatehub_delivery_attempts_total": 2 * len(deliveryOutcomes),
		"gatehub_acks_refused_total":      2 * len(AckRefusalCodes),
		"gatehub_messages":                2 * len(MessageStates),
		"gatehub_lane_decisions_total":    2 * len(laneActions),
		"gatehub_decisions_total":         len(decisionStatuses),
		"gatehub_refusals_total":          len(RefusalKinds),
		"gatehub_build_info":              1,
	} {
		if n := testutil.CollectAndCount(m.Registry, name); n != want {
			t.Errorf("%s: %d series, want %d", name, n, want)
		}
	}
	if v := testutil.ToFloat64(m.deadLetters.WithLabelValues("customs")); v != 0 {
		t.Errorf("dead letters of customs = %v before any", v)
	}
}

func TestOldestPending(t *testing.T) {
	m := New()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	m.SetOldestPending(map[string]time.Time{"customs": now.Add(-90 * time.Second), "guangxi": now.Add(time.Second)}, now)
	if v := testutil.ToFloat64(m.oldestPending.WithLabelValues("customs")); v != 90 {
		t.Errorf("customs age %v, want 90", v)
	}
	if v := testutil.ToFloat64(m.oldestPending.WithLabelValues("guangxi")); v != 0 {
		t.Errorf("a message from the future (clock skew between instances) reads %v, want 0", v)
	}
	// Delivered: reported as 0, not dropped.
	m.SetOldestPending(map[string]time.Time{}, now)
	if v := testutil.ToFloat64(m.oldestPending.WithLabelValues("customs")); v != 0 {
		t.Errorf("customs age %v after delivery, want 0", v)
	}
}

func cert(t *testing.T, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"}, NotBefore: notAfter.Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCertificateExpiry(t *testing.T) {
	m := New()
	if n := testutil.CollectAndCount(m.Registry, "gatehub_certificate_expiry_timestamp_seconds"); n != 0 {
		t.Fatalf("%d series before WatchCertificates", n)
	}
	end := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	hub, agency := cert(t, end), cert(t, end)
	window := end.Add(-30 * 24 * time.Hour)
	m.WatchCertificates(func() []Certificate {
		return []Certificate{
			{Participant: "hub", Role: "hub", Cert: hub},
			{Participant: "customs", Role: "agency", Cert: agency, Until: window},
			{Participant: "customs", Role: "agency", Cert: agency, Until: window}, // listed twice: once in the scrape
		}
	})
	want := `
# HELP gatehub_certificate_expiry_timestamp_seconds When the hub's signing certificate (role hub) and each agency's newest trusted certificate (role agency) stop being valid (NotAfter, or the end of the trust window), as a Unix time; alert on it minus time().
# TYPE gatehub_certificate_expiry_timestamp_seconds gauge
gatehub_certificate_expiry_timestamp_seconds{fingerprint="` + fingerprint(agency) + `",participant="customs",role="agency"} ` + itoa(window.Unix()) + `
gatehub_certificate_expiry_timestamp_seconds{fingerprint="` + fingerprint(hub) + `",participant="hub",role="hub"} ` + itoa(end.Unix()) + `
`
	if err := testutil.CollectAndCompare(m.Registry, strings.NewReader(want), "gatehub_certificate_expiry_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
