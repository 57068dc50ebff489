package main

import (
	"context"
	"github.com/gatehub/gatehub/internal/message"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/sign"
	sim "github.com/gatehub/gatehub/internal/simulator"
)

// TestRunServesOneAgency starts the command as a user would, with a hub key
// in the keys directory, posts a hub-signed cancel to /messages and checks
// the ACK against the certificates the command published.
func TestRunServesOneAgency(t *testing.T) {
	dir := t.TempDir()
	keys, publish := filepath.Join(dir, "keys"), filepath.Join(dir, "trust-out")
	now := time.Now()
	hub, _, err := pki.LoadOrCreate(keys, "hub", pki.ECDSAP256, now)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *sim.Cluster, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"-agency", "vehicleregistry", "-addr", "127.0.0.1:0",
			"-keys", keys, "-trust", filepath.Join(dir, "no-such-dir"), "-publish", publish,
			"-schemas", "../../schemas", "-mappings", "../../mappings",
			"-agencies", "../../deploy/agencies", "-rules", "../../simulators",
		}, slog.New(slog.NewTextHandler(io.Discard, nil)), func(c *sim.Cluster) { ready <- c })
	}()
	var cluster *sim.Cluster
	select {
	case cluster = <-ready:
	case err := <-done:
		t.Fatalf("run ended early: %v", err)
	}

	reg, err := mapping.Load("../../mappings")
	if err != nil {
		t.Fatal(err)
	}
	doc, _, err := reg.Build("vehicleregistry", message.Cancel, map[string]any{}, mapping.Envelope{
		MessageID: "M-CLI-1", Sender: "hub", Receiver: "vehicleregistry", DeclarationID: "D-1", Version: 2,
		PreviousMessageID: "M-CLI-0", CreatedAt: now, Reason: "Truck broke down",
	}, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sign.NewSigner(hub)
	if err != nil {
		t.Fatal(err)
	}
	body, err := signer.Sign(doc)
	if err != nil {
		t.Fatal(err)
	}
	endpoint := cluster.BaseURL() + "/messages" // single agency: no prefix needed
	resp, err := agency.NewTransport(nil).Post(ctx, agency.Spec{Name: "vehicleregistry"}, endpoint, "M-CLI-1", body)
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("post: %+v %v", resp, err)
	}

	published, err := pki.LoadTrustStore(publish)
	if err != nil {
		t.Fatal(err)
	}
	root, err := sign.NewVerifier(published).Verify("vehicleregistry", resp.Body, now)
	if err != nil {
		t.Fatalf("ACK does not verify against the published certificate: %v", err)
	}
	if a, err := reg.ParseAck("vehicleregistry", root); err != nil || a.Status != "ACK" || a.RefMessageID != "M-CLI-1" {
		t.Fatalf("ack %+v %v", a, err)
	}
	if _, err := os.Stat(filepath.Join(keys, "vehicleregistry.key.pem")); err != nil {
		t.Fatalf("agency key not kept for the next run: %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
	}{
		{nil, false},
		{[]string{"-agency", "customs", "-mode", "async", "-fail-first", "2", "-delay", "1s"}, false},
		{[]string{"-delay", "soon"}, true},
		{[]string{"stray"}, true},
	}
	for _, tt := range tests {
		if _, err := parseFlags(tt.args); (err != nil) != tt.wantErr {
			t.Errorf("parseFlags(%q) err = %v", tt.args, err)
		}
	}
}
