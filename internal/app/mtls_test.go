package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/views"
)

// testCA issues the certificates of one test: the hub's server
// certificate and the clients' certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// Validity covers both the real clock (TLS handshakes) and the hub's test
// clock, which starts earlier today (trust store windows).
var (
	certFrom  = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	certUntil = time.Now().AddDate(1, 0, 0)
)

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatehub test CA"},
		NotBefore: certFrom, NotAfter: certUntil, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

var serial int64 = 100

func (ca *testCA) issue(t *testing.T, cn string, server bool) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: certFrom, NotAfter: certUntil, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func fingerprint(c tls.Certificate) string {
	sum := sha256.Sum256(c.Certificate[0])
	return hex.EncodeToString(sum[:])
}

func (ca *testCA) client(c *tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if c != nil {
		tc.Certificates = []tls.Certificate{*c}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
}

func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	cfg := baseConfig(t)
	dir := cfg.DataDir
	server := ca.issue(t, "hub", true)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.cert.Raw)
	writePEM(t, filepath.Join(dir, "hub.pem"), "CERTIFICATE", server.Certificate[0])
	keyDER, _ := x509.MarshalPKCS8PrivateKey(server.PrivateKey)
	writePEM(t, filepath.Join(dir, "hub.key"), "PRIVATE KEY", keyDER)
	cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.ClientCAFile = filepath.Join(dir, "hub.pem"), filepath.Join(dir, "hub.key"), filepath.Join(dir, "ca.pem")

	camera := ca.issue(t, "HUUNGHI EXP-1 camera", false)
	customs := ca.issue(t, "customs", false)
	retired := ca.issue(t, "customs, retired", false)
	stranger := ca.issue(t, "nobody we know", false)

	// The agencies' transport certificates are in the trust store, like
	// their signing certificates; the retired one only for a past window.
	ts := pki.NewTrustStore()
	ts.Add("customs", customs.Leaf, time.Time{}, time.Time{})
	ts.Add("customs", retired.Leaf, certFrom, certFrom.Add(time.Hour))
	if err := ts.Save(cfg.TrustDir); err != nil {
		t.Fatal(err)
	}

	h := launch(t, cfg, app.Options{})
	if !strings.HasPrefix(h.url, "https://") {
		t.Fatalf("hub with TLS announces %s", h.url)
	}
	h.client = ca.client(nil) // bearer tokens over TLS, no client certificate

	events, _ := h.laneStream(t, "HUUNGHI", "EXP-1", operatorToken, "")
	resp, data := h.call(t, "POST", "/v1/declarations", traderToken, sample(t, nil), jsonHeader)
	var v views.DeclarationView
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(data, &v) != nil {
		t.Fatalf("submit over TLS: HTTP %d: %s", resp.StatusCode, data)
	}
	next(t, events, "CLEARED", decisionFor(v.ID, "CLEARED"))
	msgs := map[string]string{}
	for _, m := range v.Messages {
		msgs[m.Agency] = m.ID
	}

	certCall := func(c *tls.Certificate, method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, h.url+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := ca.client(c).Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const plateRead = `{"kind":"plate","plate":"12C-12345","confidence":0.97}`

	// Until the gate file names its fingerprint, the camera's certificate
	// (valid, from the right CA) authenticates nobody.
	if got := certCall(&camera, "POST", "/v1/devices/readings", plateRead); got != http.StatusUnauthorized {
		t.Fatalf("camera before onboarding: HTTP %d", got)
	}
	gateFile := huunghiWith(t, func(s string) string {
		return strings.Replace(s, "      - id: EXP-1-camera\n        kind: plate-camera\n", "      - id: EXP-1-camera\n        kind: plate-camera\n        certFingerprint: "+fingerprint(camera)+"\n", 1)
	})
	if resp, data := h.call(t, "PUT", "/v1/admin/gates/HUUNGHI", adminDevToken, gateFile, http.Header{"Content-Type": {"application/yaml"}}); resp.StatusCode != 200 {
		t.Fatalf("apply gate with certFingerprint: HTTP %d: %s", resp.StatusCode, data)
	}

	tests := []struct {
		name         string
		cert         *tls.Certificate
		method, path string
		body         string
		want         int
	}{
		{"camera reads a plate", &camera, "POST", "/v1/devices/readings", plateRead, 200},
		{"camera on its lane's stream", &camera, "GET", "/v1/gates/HUUNGHI/lanes/EXP-1/events?probe", "", 200},
		{"camera on another lane's stream", &camera, "GET", "/v1/gates/HUUNGHI/lanes/EXP-2/events", "", 403},
		{"camera is not an operator", &camera, "GET", "/v1/admin/outbox", "", 403},
		{"customs reads its message", &customs, "GET", "/v1/messages/" + msgs["customs"], "", 200},
		{"customs reads another agency's message", &customs, "GET", "/v1/messages/" + msgs["guangxi"], "", 404},
		{"customs is not a trader", &customs, "GET", "/v1/declarations", "", 403},
		{"retired customs certificate", &retired, "GET", "/v1/messages/" + msgs["customs"], "", 401},
		{"certificate from the CA, known to nobody", &stranger, "GET", "/v1/messages/" + msgs["customs"], "", 401},
		{"no certificate, no token", nil, "GET", "/v1/messages/" + msgs["customs"], "", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasSuffix(tc.path, "?probe") {
				// A stream stays open: only its status matters here.
				req, _ := http.NewRequest(tc.method, h.url+strings.TrimSuffix(tc.path, "?probe"), nil)
				resp, err := ca.client(tc.cert).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Fatalf("HTTP %d, want %d", resp.StatusCode, tc.want)
				}
				return
			}
			if got := certCall(tc.cert, tc.method, tc.path, tc.body); got != tc.want {
				t.Fatalf("HTTP %d, want %d", got, tc.want)
			}
		})
	}

	// A certificate from another CA does not even complete the handshake.
	other := newTestCA(t)
	rogue := other.issue(t, "HUUNGHI EXP-1 camera", false)
	req, _ := http.NewRequest("GET", h.url+"/healthz", nil)
	if resp, err := ca.client(&rogue).Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a client certificate from an unknown CA was accepted: HTTP %d", resp.StatusCode)
	}
}
