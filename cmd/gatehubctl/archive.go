package main

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/store"
)

// auditArchive moves the oldest part of the log out of the hot store: it
// exports the entries up to -through-seq, verifies the archive it wrote
// (chain, checkpoints, every XML signature), and only then deletes those
// entries, logging that it did so. The head entry always stays, so the
// next archive names the hash this one ends with and `audit verify
// -previous` checks the link.
func auditArchiveCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "archive --through-seq N --out FILE.tar.gz",
		Short: "Archive the oldest entries, verify the archive, then remove them from the hot store",
		Long: `Move the oldest part of the audit log out of the hot store: export the entries up to
--through-seq, verify the archive written (chain, checkpoints, every XML signature), and only then
delete those entries, logging that it did so. The head entry always stays, so the next archive
names the hash this one ends with and 'audit verify --previous' checks the link.`,
		Annotations: envAnnotation(storeEnvHelp),
		Args:        cobra.NoArgs,
	}
	fs := c.Flags()
	sf := addStoreFlags(fs)
	trustDir := fs.String("trust", envOr("GATEHUB_TRUST_DIR", "data/trust"), "trust store whose certificates go into the archive")
	through := fs.Int64("through-seq", 0, "last entry to archive and remove (must be below the head)")
	outFile := fs.String("out", "", "archive file to write (required)")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if *outFile == "" || *through < 1 {
			return usagef("audit archive needs --through-seq N (at least 1) and --out FILE.tar.gz")
		}
		if err := sf.passwordInArgv(c); err != nil {
			return err
		}
		return auditArchive(c.Context(), sf, *trustDir, *through, *outFile, c.OutOrStdout())
	}
	return c
}

func auditArchive(ctx context.Context, sf storeFlags, trustDir string, through int64, outFile string, out io.Writer) error {
	certs, err := trustedCerts(trustDir)
	if err != nil {
		return err
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	a, err := archiveRange(ctx, st, through, certs, outFile)
	if err != nil {
		return err
	}
	pruned, err := pruneArchived(ctx, st, &a.Manifest, a.SHA256)
	if err != nil {
		return fmt.Errorf("archive %s written and verified, but the hot store was not pruned: %w", outFile, err)
	}
	fmt.Fprintf(out, "archived entries %d..%d to %s (head %x); removed %d from the hot store\n",
		a.Manifest.FromSeq, a.Manifest.ToSeq, outFile, []byte(a.Manifest.HeadHash), pruned)
	return nil
}

// archiveRange exports everything still in the store up to through into
// path and verifies the file before anyone relies on it; a file that does
// not verify is removed.
func archiveRange(ctx context.Context, st store.Store, through int64, certs map[string][]*x509.Certificate, path string) (*audit.ExportedArchive, error) {
	var head int64
	if err := st.WithTx(ctx, func(tx store.Tx) error {
		var err error
		head, _, err = tx.AuditHead(ctx)
		return err
	}); err != nil {
		return nil, fmt.Errorf("audit head: %w", err)
	}
	if through >= head {
		return nil, fmt.Errorf("--through-seq %d: the log's head is entry %d, which must stay in the hot store", through, head)
	}
	opts := audit.ExportOptions{Filter: store.AuditFilter{ToSeq: through}, Certs: certs, Now: time.Now()}
	addInputs(ctx, &opts, st)
	a, err := exportOne(ctx, st, opts, path)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	ar, err := audit.OpenArchiveFile(path)
	if err == nil {
		var rep *audit.Report
		rep, err = ar.Verify(ctx, audit.VerifyOptions{XML: certsVerifier(ar.Certs)})
		ar.Close()
		if err == nil && !rep.OK() {
			err = fmt.Errorf("the archive does not verify, nothing removed: %s", rep.Problems[0].Error())
		}
	}
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return a, nil
}

// pruneArchived removes the archived entries and logs the archive's
// identity in the same transaction, so the log itself says where its
// beginning went.
func pruneArchived(ctx context.Context, st store.Store, m *audit.Manifest, sum []byte) (int64, error) {
	payload, err := audit.MarshalPayload(&audit.Archived{
		FromSeq: m.FromSeq, ToSeq: m.ToSeq, HeadHash: hex.EncodeToString(m.HeadHash), ArchiveSHA256: hex.EncodeToString(sum),
	})
	if err != nil {
		return 0, err
	}
	var n int64
	err = st.WithTx(ctx, func(tx store.Tx) error {
		if err := audit.Append(ctx, tx, &store.AuditEntry{
			Time: time.Now(), Kind: audit.KindAuditArchived, Actor: "gatehubctl", Payload: payload,
		}); err != nil {
			return err
		}
		var err error
		n, err = tx.PruneAudit(ctx, m.ToSeq)
		return err
	})
	return n, err
}
