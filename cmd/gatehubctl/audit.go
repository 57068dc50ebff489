package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/postgres"
	"github.com/gatehub/gatehub/internal/store/sqlite"
)

// storeFlags are how offline commands reach a hub's store directly.
type storeFlags struct {
	fs          *pflag.FlagSet
	databaseURL *string
	dataDir     *string
}

func addStoreFlags(fs *pflag.FlagSet) storeFlags {
	return storeFlags{
		fs: fs,
		// No default shown: GATEHUB_DATABASE_URL may carry a password, and
		// --help must not print it.
		databaseURL: fs.String("database-url", "", "Postgres URL without a password: put the password in GATEHUB_DATABASE_URL, PGPASSWORD or ~/.pgpass (default: GATEHUB_DATABASE_URL, else the embedded store in --data-dir)"),
		dataDir:     fs.String("data-dir", envOr("GATEHUB_DATA_DIR", "data"), "embedded hub data directory (GATEHUB_DATA_DIR)"),
	}
}

// url is the Postgres URL to use: the flag when given (even empty, which
// forces the embedded store), else GATEHUB_DATABASE_URL.
func (f storeFlags) url() string {
	if f.fs.Changed("database-url") {
		return *f.databaseURL
	}
	return os.Getenv("GATEHUB_DATABASE_URL")
}

const storeEnvHelp = `Environment:
  GATEHUB_DATABASE_URL  the hub's Postgres URL, password included (default: the embedded store)
  GATEHUB_DATA_DIR      the embedded store's data directory (default data)`

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// passwordInArgv refuses a database URL with a password given as a flag:
// the command line is visible to every user through ps.
func (f storeFlags) passwordInArgv(c *cobra.Command) error {
	if !c.Flags().Changed("database-url") || *f.databaseURL == "" {
		return nil
	}
	if u, err := url.Parse(*f.databaseURL); err == nil && u.User != nil {
		if _, set := u.User.Password(); set {
			return usagef("--database-url carries a password, which ps shows to every user: put the URL in GATEHUB_DATABASE_URL or the password in PGPASSWORD or ~/.pgpass")
		}
	}
	if strings.Contains(*f.databaseURL, "password=") {
		return usagef("--database-url carries a password, which ps shows to every user: put the URL in GATEHUB_DATABASE_URL or the password in PGPASSWORD or ~/.pgpass")
	}
	return nil
}

func (f storeFlags) open(ctx context.Context) (store.Store, error) {
	if u := f.url(); u != "" {
		return postgres.Open(ctx, u)
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
		return time.Time{}, usagef("--%s: want RFC 3339 (2026-11-25T00:00:00Z): %w", name, err)
	}
	return t, nil
}

func auditExportCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "export --out FILE.tar.gz [--from T] [--to T | --from-seq N --to-seq M]",
		Short: "Write a self-contained archive of the audit log",
		Long: `Write a self-contained archive of the audit log (entries, signed checkpoints and the
certificates needed to verify them offline) read from the hub's store, and print its manifest.`,
		Annotations: envAnnotation(storeEnvHelp),
		Args:        cobra.NoArgs,
	}
	fs := c.Flags()
	sf := addStoreFlags(fs)
	trustDir := fs.String("trust", envOr("GATEHUB_TRUST_DIR", "data/trust"), "trust store whose certificates go into the archive")
	from := fs.String("from", "", "first entry time (RFC 3339)")
	to := fs.String("to", "", "last entry time (RFC 3339)")
	fromSeq := fs.Int64("from-seq", 0, "first entry sequence number")
	toSeq := fs.Int64("to-seq", 0, "last entry sequence number")
	outFile := fs.String("out", "", "archive file to write (required)")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if *outFile == "" {
			return usagef("audit export needs --out FILE.tar.gz")
		}
		if err := sf.passwordInArgv(c); err != nil {
			return err
		}
		return auditExport(c.Context(), sf, *trustDir, *from, *to, *fromSeq, *toSeq, *outFile, c.OutOrStdout())
	}
	return c
}

func auditExport(ctx context.Context, sf storeFlags, trustDir, from, to string, fromSeq, toSeq int64, outFile string, out io.Writer) error {
	f := store.AuditFilter{FromSeq: fromSeq, ToSeq: toSeq}
	var err error
	if f.From, err = parseTimeFlag("from", from); err != nil {
		return err
	}
	if f.To, err = parseTimeFlag("to", to); err != nil {
		return err
	}
	certs, err := trustedCerts(trustDir)
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
	if err := os.WriteFile(outFile, buf.Bytes(), 0o640); err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

// archiveVerifier checks XML signatures with the certificates the archive
// itself carries, at the time each entry was logged.
// Each agency's signatures are held to its profile, the hub's to any of
// them (app.ArchiveVerifier).
func archiveVerifier(a *audit.Archive) audit.XMLVerifier {
	v := app.ArchiveVerifier(a.Certs)
	return func(participant string, xml []byte, at time.Time) error {
		_, err := v.Verify(participant, xml, at)
		return err
	}
}

func auditVerifyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "verify [--previous OLDER.tar.gz] ARCHIVE.tar.gz",
		Short: "Verify an audit archive offline: chain, checkpoints, XML signatures",
		Long: `Verify an audit archive offline: the hash chain, the signed checkpoints and every XML
signature, with the certificates the archive carries. With --previous, also the hash link to the
archive this one continues. Exit status 2 when anything was altered, removed, inserted or reordered.`,
		Args: exactArgs("ARCHIVE.tar.gz"),
	}
	prev := c.Flags().String("previous", "", "the archive this one continues (checks the hash link between them)")
	c.RunE = func(c *cobra.Command, args []string) error {
		return auditVerify(args[0], *prev, c.OutOrStdout())
	}
	return c
}

func auditVerify(path, prev string, out io.Writer) error {
	a, err := readArchiveFile(path)
	if err != nil {
		return err
	}
	rep := a.Verify(archiveVerifier(a))
	if prev != "" {
		p, err := readArchiveFile(prev)
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
		return exitError(exitProblems)
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

func auditFindCmd() *cobra.Command {
	c := hubCmd(&cobra.Command{
		Use:   "find [--declaration ID] [--plate P] [--agency A] [--message ID] [--kind K] [--from T] [--to T]",
		Short: "Search the audit log of a running hub",
		Long: `Search the audit log of a running hub: entries matching every given filter, oldest first.
The table shows one line per entry; -o json shows the entries whole, payloads and hashes included.
Needs an auditor or admin token.`,
		Args: cobra.NoArgs,
	})
	fs := c.Flags()
	vals := map[string]*string{}
	for _, name := range []string{"declaration", "plate", "agency", "message", "kind"} {
		vals[name] = fs.String(name, "", "only entries of this "+name)
	}
	vals["from"] = fs.String("from", "", "only entries logged at or after this RFC 3339 time")
	vals["to"] = fs.String("to", "", "only entries logged at or before this RFC 3339 time")
	limit := fs.Int("limit", 100, "at most this many per page (the hub caps it at 1000 and about 4 MiB)")
	cursor := fs.String("cursor", "", "start at this page cursor (printed after a page that has more)")
	all := fs.Bool("all", false, "follow the cursors to the end (JSON: one document per page)")
	format := addOutputFlag(c)
	_ = c.RegisterFlagCompletionFunc("agency", fixedCompletion(agencies...))
	_ = c.RegisterFlagCompletionFunc("kind", fixedCompletion(audit.Kinds...))
	c.RunE = func(c *cobra.Command, _ []string) error {
		q := url.Values{}
		for k, v := range vals {
			if *v != "" {
				q.Set(k, *v)
			}
		}
		q.Set("limit", strconv.Itoa(*limit))
		if *cursor != "" {
			q.Set("cursor", *cursor)
		}
		for {
			next, err := auditFindPage(c, q, *format)
			if err != nil || next == "" {
				return err
			}
			if !*all {
				fmt.Fprintf(c.ErrOrStderr(), "more entries: --cursor %s\n", next)
				return nil
			}
			q.Set("cursor", next)
		}
	}
	return c
}

// auditFindPage prints one page of GET /v1/audit and returns the cursor
// of the next, if any.
func auditFindPage(c *cobra.Command, q url.Values, format outputFormat) (string, error) {
	var res json.RawMessage
	if err := newHubClient().call(c.Context(), "GET", "/v1/audit?"+q.Encode(), "", nil, &res); err != nil {
		return "", err
	}
	var page struct {
		NextCursor string `json:"nextCursor"`
	}
	_ = json.Unmarshal(res, &page)
	return page.NextCursor, printAnswer(c.OutOrStdout(), format, res, func(tw *tabwriter.Writer, v struct {
		Entries []struct {
			Seq           int64     `json:"seq"`
			Time          time.Time `json:"time"`
			Kind          string    `json:"kind"`
			Actor         string    `json:"actor"`
			DeclarationID string    `json:"declarationId"`
			MessageID     string    `json:"messageId"`
			Agency        string    `json:"agency"`
			Plate         string    `json:"plate"`
		} `json:"entries"`
	}) {
		row(tw, "SEQ", "TIME", "KIND", "ACTOR", "DECLARATION", "MESSAGE", "AGENCY", "PLATE")
		for _, e := range v.Entries {
			row(tw, e.Seq, e.Time, e.Kind, e.Actor, e.DeclarationID, e.MessageID, e.Agency, e.Plate)
		}
	})
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
