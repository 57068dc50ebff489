package bench

import (
	"bytes"
	"context"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/sqlite"
)

// The synthetic log the audit benchmarks measure must be one an auditor's
// verify accepts, every signature under its agency's profile: a log that
// verify refuses measures the refusal, not the verification.
func TestSyntheticAuditLogVerifies(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	log, err := SyntheticAuditLog(ctx, root(t), dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := log.VerifierBound(time.Millisecond); err != nil {
		t.Fatalf("the verifier bound's own verifier refuses the log's signatures: %v", err)
	}
	trust, err := pki.LoadTrustStore(filepath.Join(dir, "trust"))
	if err != nil {
		t.Fatal(err)
	}
	certs := map[string][]*x509.Certificate{}
	for _, p := range trust.Participants() {
		certs[p] = trust.All(p)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "gatehub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var archive bytes.Buffer
	if _, err := audit.Export(ctx, st, store.AuditFilter{}, certs, log.At, &archive); err != nil {
		t.Fatal(err)
	}
	known, err := agencies.LoadDir("../../deploy/agencies")
	if err != nil {
		t.Fatal(err)
	}
	v := app.ArchiveVerifier(known, certs)
	rep, err := audit.VerifyArchive(&archive, func(participant string, xml []byte, at time.Time) error {
		_, err := v.Verify(participant, xml, at)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.SignaturesChecked != 3*SignaturesPerDeclaration {
		t.Fatalf("verify: %d signatures checked (want %d), problems %v", rep.SignaturesChecked, 3*SignaturesPerDeclaration, rep.Problems)
	}
}
