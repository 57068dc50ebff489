package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/sqlite"
)

// TestAuditArchiveKeepsChain archives the log in two slices out of the hot
// store and checks that each archive verifies, that the second names the
// hash the first ends with, and that the hub keeps appending to the chain.
func TestAuditArchiveKeepsChain(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	trust := filepath.Join(dir, "trust")
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	id, err := pki.Generate("hub", pki.ECDSAP256, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ts := pki.NewTrustStore()
	ts.Add("hub", id.Cert, time.Time{}, time.Time{})
	if err := ts.Save(trust); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "gatehub.db"))
	if err != nil {
		t.Fatal(err)
	}
	appendN := func(n int) {
		t.Helper()
		err := st.WithTx(ctx, func(tx store.Tx) error {
			for i := range n {
				e := &store.AuditEntry{Time: now.Add(time.Duration(i) * time.Second), Kind: audit.KindDecision, Actor: "hub", Payload: []byte(`{"n":1}`)}
				if err := audit.Append(ctx, tx, e); err != nil {
					return err
				}
			}
			_, err := audit.NewCheckpointer(id.Key, pki.Fingerprint(id.Cert)).Checkpoint(ctx, tx, now)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	appendN(10)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := dispatch(ctx, args, &out)
		return out.String(), err
	}
	a1, a2 := filepath.Join(dir, "a1.tar.gz"), filepath.Join(dir, "a2.tar.gz")
	common := []string{"-data-dir", dir, "-trust", trust, "-database-url", ""}
	if out, err := run(append([]string{"audit", "archive", "-through-seq", "4", "-out", a1}, common...)...); err != nil {
		t.Fatalf("first archive: %v\n%s", err, out)
	}
	if out, err := run(append([]string{"audit", "archive", "-through-seq", "99", "-out", a1 + ".head"}, common...)...); err == nil {
		t.Fatalf("archiving past the head entry must be refused:\n%s", out)
	}
	if out, err := run(append([]string{"audit", "archive", "-through-seq", "8", "-out", a2}, common...)...); err != nil {
		t.Fatalf("second archive: %v\n%s", err, out)
	}
	out, err := run("audit", "verify", "-previous", a1, a2)
	if err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("verify with continuity: %v\n%s", err, out)
	}
	// Reversed order is not a continuation.
	if out, err := run("audit", "verify", "-previous", a2, a1); !errors.As(err, new(exitError)) {
		t.Fatalf("swapped archives verified: %v\n%s", err, out)
	}

	// What stays in the hot store continues from the second archive.
	st, err = sqlite.Open(ctx, filepath.Join(dir, "gatehub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	appendN(2)
	arch2, err := readArchiveFile(a2)
	if err != nil {
		t.Fatal(err)
	}
	err = st.WithTx(ctx, func(tx store.Tx) error {
		rest, err := tx.ListAudit(ctx, store.AuditFilter{})
		if err != nil {
			return err
		}
		if rest[0].Seq != 9 {
			t.Errorf("hot store starts at %d, want 9", rest[0].Seq)
		}
		archived := 0
		for _, e := range rest {
			if e.Kind == audit.KindAuditArchived {
				archived++
			}
		}
		if archived != 2 {
			t.Errorf("%d audit.archived entries, want 2", archived)
		}
		return audit.VerifyChain(arch2.Manifest.HeadHash, 9, rest)
	})
	if err != nil {
		t.Fatalf("hot store does not continue the archived chain: %v", err)
	}
}
