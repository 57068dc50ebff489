package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/pki/softhsmtest"
	"github.com/gatehub/gatehub/internal/schema"
	sim "github.com/gatehub/gatehub/internal/simulator"
)

// TestConformanceRun: the command against shipped simulators, one sound
// and one that ACKs everything, in both output formats, and its usage
// errors.
func TestConformanceRun(t *testing.T) {
	keys := t.TempDir()
	now := time.Now()
	hubTrust := pki.NewTrustStore()
	for name, alg := range map[string]pki.Algorithm{"hub": pki.RSA2048, "hub.sm2": pki.SM2} {
		id, err := pki.Generate("hub", alg, now.Add(-time.Hour), now.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if err := id.SaveAs(keys, name); err != nil {
			t.Fatal(err)
		}
		hubTrust.Add("hub", id.Cert, time.Time{}, time.Time{})
	}
	reg, val := formats(t)
	start := func(name string, misbehave ...sim.Misbehaviour) (endpoint, cert string) {
		c, err := sim.StartAll(t.Context(), sim.Options{
			Definitions: localDefinitions(), Agencies: []string{name}, Registry: reg, Validator: val, Trust: hubTrust,
			Configure: func(cfg *sim.Config) { cfg.Misbehave = misbehave },
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		cert = filepath.Join(t.TempDir(), name+".crt.pem")
		if err := os.WriteFile(cert, pki.CertPEM(c.Certificates()[name]), 0o600); err != nil {
			t.Fatal(err)
		}
		return c.Endpoint(name), cert
	}
	dirs := []string{"-keys-dir", keys, "--vectors", "../../conformance-tests/vectors", "--mappings", "../../mappings", "--schemas", "../../schemas"}
	customs, customsCert := start("customs")
	guangxi, guangxiCert := start("guangxi")
	broken, brokenCert := start("borderguard", sim.MisbehaveAcceptInvalid)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"customs passes", []string{"-agency", "customs", "-endpoint", customs, "-cert", customsCert}, exitOK,
			[]string{"PASS  valid/submit.xml", "idempotency", "PASSED:"}},
		{"guangxi passes under SM2", []string{"-agency", "guangxi", "-endpoint", guangxi, "-cert", guangxiCert}, exitOK,
			[]string{"signature profile sm2-sm3", "PASSED:"}},
		{"a simulator that ACKs invalid vectors fails", []string{"--agency", "borderguard", "--endpoint", broken, "--cert", brokenCert}, exitProblems,
			[]string{"FAIL  invalid/", "accepted (ACK) a message it must refuse", "FAILED:"}},
		{"wrong certificate", []string{"-agency", "customs", "-endpoint", customs, "-cert", guangxiCert}, exitProblems,
			[]string{"FAIL  valid/submit.xml", "signer not trusted"}},
		{"no agency", []string{"-endpoint", customs}, exitUsage, []string{"needs --agency CODE and --endpoint URL"}},
		{"unknown agency", []string{"-agency", "nowhere", "-endpoint", customs}, exitUsage, []string{`unknown agency "nowhere"`}},
		{"no hub key", []string{"-agency", "customs", "-endpoint", customs, "-cert", customsCert, "-keys-dir", t.TempDir()}, exitFailure, []string{"the hub's key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			args := append(append([]string{"conformance", "run"}, dirs...), tt.args...)
			err := execute(t.Context(), args, strings.NewReader(""), &out, &out)
			if code := report(t.Context(), err, &out); code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s", code, tt.wantCode, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		var out bytes.Buffer
		args := append(append([]string{"conformance", "run"}, dirs...), "-agency", "borderguard", "-endpoint", broken, "-cert", brokenCert, "-o", "json")
		err := execute(t.Context(), args, strings.NewReader(""), &out, &out)
		if code := report(t.Context(), err, &bytes.Buffer{}); code != exitProblems {
			t.Fatalf("exit %d\n%s", code, out.String())
		}
		var rep struct {
			Agency string `json:"agency"`
			Failed int    `json:"failed"`
			Checks []struct {
				Vector, Check, Detail string
				Pass                  bool
			} `json:"checks"`
		}
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out.String())
		}
		if rep.Agency != "borderguard" || rep.Failed == 0 || len(rep.Checks) < 20 {
			t.Fatalf("report = %+v", rep)
		}
	})
}

// TestConformanceRunTokenKey: with GATEHUB_HUB_KEY_URI the kit signs with
// the hub's key inside a PKCS#11 token (SoftHSM2), as gatehubd does, and
// reads no key file.
func TestConformanceRunTokenKey(t *testing.T) {
	uri := softhsmtest.New(t, "gatehub-conformance", "hub")
	keys := t.TempDir()
	out := run(t, "keys", "gen", "--participant", "hub", "--pkcs11", uri, "--dir", keys)
	if !strings.Contains(out, "key generated in pkcs11:") {
		t.Fatalf("keys gen said: %s", out)
	}
	certPEM, err := os.ReadFile(filepath.Join(keys, "hub.crt.pem"))
	if err != nil {
		t.Fatal(err)
	}
	hubCert, err := pki.ParseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	hubTrust := pki.NewTrustStore()
	hubTrust.Add("hub", hubCert, time.Time{}, time.Time{})
	reg, val := formats(t)
	c, err := sim.StartAll(t.Context(), sim.Options{Definitions: localDefinitions(), Agencies: []string{"customs"}, Registry: reg, Validator: val, Trust: hubTrust})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	agencyCert := filepath.Join(t.TempDir(), "customs.crt.pem")
	if err := os.WriteFile(agencyCert, pki.CertPEM(c.Certificates()["customs"]), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHUB_HUB_KEY_URI", uri)
	var buf bytes.Buffer
	err = execute(t.Context(), []string{"conformance", "run", "--agency", "customs", "--endpoint", c.Endpoint("customs"),
		"--cert", agencyCert, "--keys-dir", t.TempDir(), "--vectors", "../../conformance-tests/vectors",
		"--mappings", "../../mappings", "--schemas", "../../schemas"}, strings.NewReader(""), &buf, &buf)
	if code := report(t.Context(), err, &buf); code != exitOK || !strings.Contains(buf.String(), "PASSED:") {
		t.Fatalf("exit %d\n%s", code, buf.String())
	}
	if strings.Contains(buf.String(), "pin-value") || strings.Contains(buf.String(), "pkcs11:") {
		t.Fatal("the report shows the token URI and its PIN")
	}
}

// formats are the shipped mappings and schemas, as the simulators load them.
func formats(t *testing.T) (*mapping.Registry, *schema.Validator) {
	t.Helper()
	reg, err := mapping.Load("../../mappings")
	if err != nil {
		t.Fatal(err)
	}
	val, err := schema.Load("../../schemas")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(val.Close)
	return reg, val
}
