package app_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/pki/softhsmtest"
)

// TestHubKeyInPKCS11Token: with hubKeyURI the hub signs with the key in
// the token (SoftHSM2), the simulators accept its messages, a truck
// clears, and no hub key file is read or created; production refuses to
// take the SM2 key the Guangxi profile needs from disk.
func TestHubKeyInPKCS11Token(t *testing.T) {
	uri := softhsmtest.New(t, "gatehub-app", "hub")
	u, err := pki.ParsePKCS11URI(uri)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := pki.OpenToken(u)
	if err != nil {
		t.Fatal(err)
	}
	now := testClock()()
	inToken, err := tok.Generate(u, hub.Participant, pki.RSA2048, now.Add(-24*time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Close(); err != nil {
		t.Fatal(err)
	}

	h := startWith(t, setup{config: func(c *config.Config) { c.HubKeyURI = uri }})
	if !h.app.Identity.Cert.Equal(inToken.Cert) {
		t.Fatal("the hub does not sign with the token's key")
	}
	if _, err := os.Stat(filepath.Join(h.app.Config.KeysDir, hub.Participant+".key.pem")); !os.IsNotExist(err) {
		t.Fatalf("a hub key file exists beside the token key: %v", err)
	}
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, nil))
	h.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool { return ev.Decision.Status == "CLEARED" })

	cfg := baseConfig(t)
	cfg.HubKeyURI, cfg.Production = uri, true
	_, err = app.New(context.Background(), cfg, app.Options{Log: testLog()})
	if err == nil || !strings.Contains(err.Error(), "may not read from disk") {
		t.Fatalf("production with a token and the SM2 profile: %v", err)
	}
}
