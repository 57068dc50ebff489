package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/postgres"
	"github.com/gatehub/gatehub/internal/store/sqlite"
)

// storeFlags are how offline commands reach a hub's store directly.
type storeFlags struct {
	databaseURL *string
	dataDir     *string
}

func addStoreFlags(fs *flag.FlagSet) storeFlags {
	return storeFlags{
		databaseURL: fs.String("database-url", os.Getenv("GATEHUB_DATABASE_URL"), "Postgres URL (default: the embedded store in -data-dir)"),
		dataDir:     fs.String("data-dir", envOr("GATEHUB_DATA_DIR", "data"), "embedded hub data directory"),
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (f storeFlags) open(ctx context.Context) (store.Store, error) {
	if *f.databaseURL != "" {
		return postgres.Open(ctx, *f.databaseURL)
	}
	path := filepath.Join(*f.dataDir, "gatehub.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no embedded store at %s: %w", path, err)
	}
	return sqlite.Open(ctx, path)
}

func parseTimeFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("-%s: want RFC 3339 (2026-11-25T00:00:00Z): %w", name, err)
	}
	return t, nil
}

func auditExport(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	sf := addStoreFlags(fs)
	trustDir := fs.String("trust", envOr("GATEHUB_TRUST_DIR", "data/trust"), "trust store whose certificates go into the archive")
	from := fs.String("from", "", "first entry time (RFC 3339)")
	to := fs.String("to", "", "last entry time (RFC 3339)")
	fromSeq := fs.Int64("from-seq", 0, "first entry sequence number")
	toSeq := fs.Int64("to-seq", 0, "last entry sequence number")
	outFile := fs.String("out", "", "archive file to write (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *outFile == "" {
		return errors.New("usage: gatehubctl audit export -out FILE.tar.gz [-from T] [-to T | -from-seq N -to-seq M]")
	}
	f := store.AuditFilter{FromSeq: *fromSeq, ToSeq: *toSeq}
	var err error
	if f.From, err = parseTimeFlag("from", *from); err != nil {
		return err
	}
	if f.To, err = parseTimeFlag("to", *to); err != nil {
		return err
	}
	certs, err := trustedCerts(*trustDir)
	if err != nil {
		return err
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var buf bytes.Buffer
	m, err := audit.Export(ctx, st, f, certs, time.Now(), &buf)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*outFile, buf.Bytes(), 0o640); err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

// archiveVerifier checks XML signatures with the certificates the archive
// itself carries, at the time each entry was logged.
func archiveVerifier(a *audit.Archive) audit.XMLVerifier {
	ts := pki.NewTrustStore()
	for p, list := range a.Certs {
		for _, c := range list {
			ts.Add(p, c, time.Time{}, time.Time{})
		}
	}
	v := sign.NewVerifier(ts)
	return func(participant string, xml []byte, at time.Time) error {
		_, err := v.Verify(participant, xml, at)
		return err
	}
}

func auditVerify(_ context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	prev := fs.String("previous", "", "the archive this one continues (checks the hash link between them)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: gatehubctl audit verify [-previous OLDER.tar.gz] ARCHIVE.tar.gz")
	}
	a, err := readArchiveFile(fs.Arg(0))
	if err != nil {
		return err
	}
	rep := a.Verify(archiveVerifier(a))
	if *prev != "" {
		p, err := readArchiveFile(*prev)
		if err != nil {
			return err
		}
		if err := audit.VerifyContinuity(p.Manifest, a.Manifest); err != nil {
			rep.Problems = append(rep.Problems, audit.Problem{Seq: a.Manifest.FromSeq, Reason: err.Error()})
		}
	}
	fmt.Fprintf(out, "entries %d, checkpoints %d, XML signatures checked %d\n", rep.Entries, rep.Checkpoints, rep.SignaturesChecked)
	for _, fp := range rep.HubCerts {
		fmt.Fprintf(out, "hub certificate in archive: %s (compare with the one published out of band)\n", fp)
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(out, "note:", n)
	}
	if len(rep.Problems) > 0 {
		for _, p := range rep.Problems {
			fmt.Fprintln(out, "PROBLEM:", p.Error())
		}
		return exitError(2)
	}
	fmt.Fprintln(out, "OK: nothing altered, removed, inserted or reordered")
	return nil
}

func readArchiveFile(path string) (*audit.Archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := audit.ReadArchive(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

func auditFind(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audit find", flag.ContinueOnError)
	q := url.Values{}
	vals := map[string]*string{}
	for _, name := range []string{"declaration", "plate", "agency", "message", "kind", "from", "to"} {
		vals[name] = fs.String(name, "", "filter by "+name)
	}
	limit := fs.Int("limit", 100, "at most this many")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for k, v := range vals {
		if *v != "" {
			q.Set(k, *v)
		}
	}
	q.Set("limit", strconv.Itoa(*limit))
	var res json.RawMessage
	if err := newHubClient().call(ctx, "GET", "/v1/audit?"+q.Encode(), "", nil, &res); err != nil {
		return err
	}
	return printJSON(out, res)
}

// trustedCerts is every certificate of a trust store directory, by
// participant: what an archive carries so that it verifies offline.
func trustedCerts(dir string) (map[string][]*x509.Certificate, error) {
	ts, err := pki.LoadTrustStore(dir)
	if err != nil {
		return nil, err
	}
	certs := map[string][]*x509.Certificate{}
	for _, p := range ts.Participants() {
		certs[p] = ts.All(p)
	}
	return certs, nil
}
