package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
	return sqlite.OpenTool(ctx, path)
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
		Use:   "export (--out FILE.tar.gz | --out-dir DIR [--max-size SIZE] [--max-span DURATION]) [--from T] [--to T | --from-seq N --to-seq M]",
		Short: "Write self-contained archives of the audit log",
		Long: `Write self-contained archives of the audit log (entries, signed checkpoints, the
certificates needed to verify them offline and the mapping inputs messages were built with) read
from the hub's store in short read transactions beside a running hub, and print a summary.

With --out, one archive. With --out-dir, a chain of archives named audit-FROM-TO.tar.gz, a new one
begun before an archive's entries would pass --max-size or span more than --max-span; each names the
hash of the entry and of the file it continues. --previous links the first archive to an existing
one (and, without --from-seq, starts right after it). Progress goes to stderr.`,
		Annotations: envAnnotation(storeEnvHelp),
		Args:        cobra.NoArgs,
	}
	fs := c.Flags()
	sf := addStoreFlags(fs)
	var o exportFlags
	o.trustDir = fs.String("trust", envOr("GATEHUB_TRUST_DIR", "data/trust"), "trust store whose certificates go into the archive")
	o.from = fs.String("from", "", "first entry time (RFC 3339)")
	o.to = fs.String("to", "", "last entry time (RFC 3339)")
	o.fromSeq = fs.Int64("from-seq", 0, "first entry sequence number")
	o.toSeq = fs.Int64("to-seq", 0, "last entry sequence number")
	o.outFile = fs.String("out", "", "one archive file to write")
	o.outDir = fs.String("out-dir", "", "directory to write a chain of archives into")
	o.maxSize = byteSize(audit.DefaultMaxArchiveBytes)
	fs.Var(&o.maxSize, "max-size", "with --out-dir: rotate before an archive's entries pass this size (256MiB, 1GiB)")
	fs.Var(&o.maxSpan, "max-span", "with --out-dir: rotate before an archive's entries span more than this (24h, 30d)")
	o.previous = fs.String("previous", "", "the archive file the first archive continues")
	o.batch = fs.Int("batch", 1000, "entries per read transaction")
	o.format = addOutputFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		if (*o.outFile == "") == (*o.outDir == "") {
			return usagef("audit export needs --out FILE.tar.gz or --out-dir DIR")
		}
		if *o.outFile != "" && (fs.Changed("max-size") || fs.Changed("max-span")) {
			return usagef("--max-size and --max-span rotate a chain: use them with --out-dir")
		}
		if err := sf.passwordInArgv(c); err != nil {
			return err
		}
		return auditExport(c.Context(), sf, o, c.OutOrStdout(), c.ErrOrStderr())
	}
	return c
}

type exportFlags struct {
	trustDir, from, to, outFile, outDir, previous *string
	fromSeq, toSeq                                *int64
	maxSize                                       byteSize
	maxSpan                                       span
	batch                                         *int
	format                                        *outputFormat
}

// exportSummary is what export prints: the archives and what it cost.
type exportSummary struct {
	Archives        []audit.ExportedArchive `json:"archives"`
	Entries         int64                   `json:"entries"`
	Bytes           int64                   `json:"bytes"`
	Seconds         float64                 `json:"seconds"`
	EntriesPerSec   float64                 `json:"entries_per_second"`
	BytesPerEntry   float64                 `json:"bytes_per_entry"`
	MaxArchiveBytes int64                   `json:"max_archive_bytes,omitempty"`
	MaxRSSBytes     int64                   `json:"max_rss_bytes"`
}

func auditExport(ctx context.Context, sf storeFlags, o exportFlags, out, errOut io.Writer) error {
	f := store.AuditFilter{FromSeq: *o.fromSeq, ToSeq: *o.toSeq}
	var err error
	if f.From, err = parseTimeFlag("from", *o.from); err != nil {
		return err
	}
	if f.To, err = parseTimeFlag("to", *o.to); err != nil {
		return err
	}
	certs, err := trustedCerts(*o.trustDir)
	if err != nil {
		return err
	}
	opts := audit.ExportOptions{
		Filter: f, Certs: certs, Now: time.Now(), BatchSize: *o.batch,
		MaxBytes: int64(o.maxSize), MaxSpan: time.Duration(o.maxSpan),
		Progress: progressTo(errOut, "export"),
	}
	if *o.previous != "" {
		prev, sum, err := manifestAndSum(*o.previous)
		if err != nil {
			return err
		}
		opts.PrevArchiveSHA256 = sum
		if opts.Filter.FromSeq == 0 && opts.Filter.From.IsZero() {
			opts.Filter.FromSeq = prev.ToSeq + 1
		}
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	addInputs(ctx, &opts, st)
	// No lessGC here: export's live heap is a read batch, and collecting
	// at 4× it made its peak grow with the log (55 → 81 → 111 MiB from
	// 2,200 to 220,000 entries; 50 → 81 MiB at the default) for no rate
	// measured.
	start := time.Now()
	var sum exportSummary
	if *o.outDir != "" {
		if err := os.MkdirAll(*o.outDir, 0o750); err != nil {
			return err
		}
		sum.Archives, err = audit.ExportChain(ctx, st, *o.outDir, opts)
		sum.MaxArchiveBytes = int64(o.maxSize)
	} else {
		var a *audit.ExportedArchive
		a, err = exportOne(ctx, st, opts, *o.outFile)
		if a != nil {
			sum.Archives = []audit.ExportedArchive{*a}
		}
	}
	if err != nil {
		return err
	}
	for _, a := range sum.Archives {
		sum.Entries += int64(a.Manifest.Entries)
		sum.Bytes += a.Bytes
	}
	d := time.Since(start)
	sum.Seconds, sum.EntriesPerSec = d.Seconds(), perSecond(sum.Entries, d)
	if sum.Entries > 0 {
		sum.BytesPerEntry = float64(sum.Bytes) / float64(sum.Entries)
	}
	sum.MaxRSSBytes = peakRSS()
	if *o.format == outputJSON {
		return writeJSON(out, sum)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	row(tw, "ARCHIVE", "FROM", "TO", "ENTRIES", "CHECKPOINTS", "BYTES", "SHA-256")
	for _, a := range sum.Archives {
		row(tw, a.Path, a.Manifest.FromSeq, a.Manifest.ToSeq, a.Manifest.Entries, a.Manifest.Checkpoints, a.Bytes, hex.EncodeToString(a.SHA256))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d entries in %d archives, %d bytes (%.0f per entry), %.0f entries/s\n",
		sum.Entries, len(sum.Archives), sum.Bytes, sum.BytesPerEntry, sum.EntriesPerSec)
	return nil
}

// exportOne writes one archive to path through a temporary file, so a
// failed export leaves no half archive behind.
func exportOne(ctx context.Context, st store.Store, opts audit.ExportOptions, path string) (*audit.ExportedArchive, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(tmp, h)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	if opts.TempDir == "" {
		opts.TempDir = filepath.Dir(path)
	}
	m, err := audit.ExportTo(ctx, st, bw, opts)
	if err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, err
	}
	return &audit.ExportedArchive{Path: path, Manifest: *m, SHA256: h.Sum(nil), Bytes: cw.n}, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// manifestAndSum reads an archive's manifest and hashes the file.
func manifestAndSum(path string) (*audit.Manifest, []byte, error) {
	m, err := audit.ReadManifest(path)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, nil, err
	}
	return m, h.Sum(nil), nil
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func auditVerifyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "verify [--previous OLDER.tar.gz] ARCHIVE.tar.gz|DIR...",
		Short: "Verify audit archives offline: chain, checkpoints, XML signatures, links between files",
		Long: `Verify audit archives offline: the hash chain, the signed checkpoints and every XML
signature, with the certificates each archive carries, reading one entry at a time and checking
signatures on every core. Several archives (or directories of them) are verified as one chain, in
order: each must continue the one before (entry hash, and the file's SHA-256 where it names it).
--previous adds the archive the first one continues. Progress goes to stderr; -o json prints the
report an auditor files. Exit status 2 when anything was altered, removed, inserted or reordered.`,
		Args: cobra.MinimumNArgs(1),
	}
	prev := c.Flags().String("previous", "", "the archive the first one continues (checks the hash link between them)")
	workers := c.Flags().Int("workers", runtime.GOMAXPROCS(0), "XML signatures checked side by side")
	format := addOutputFlag(c)
	c.RunE = func(c *cobra.Command, args []string) error {
		paths, err := audit.ArchivePaths(args)
		if err != nil {
			return err
		}
		if *prev != "" {
			// Named as the one before: checked as such, not put in order.
			paths = append([]string{*prev}, paths...)
		}
		return auditVerify(c.Context(), paths, *workers, *format, c.OutOrStdout(), c.ErrOrStderr())
	}
	return c
}

// verifySummary is the report -o json prints.
type verifySummary struct {
	*audit.ChainReport
	OK            bool    `json:"ok"`
	Workers       int     `json:"workers"`
	Seconds       float64 `json:"seconds"`
	EntriesPerSec float64 `json:"entries_per_second"`
	SigsPerSec    float64 `json:"signatures_per_second"`
	MaxRSSBytes   int64   `json:"max_rss_bytes"`
}

func auditVerify(ctx context.Context, paths []string, workers int, format outputFormat, out, errOut io.Writer) error {
	rep, sum, err := verifyChain(ctx, paths, workers, errOut)
	if err != nil {
		return err
	}
	sum.MaxRSSBytes = peakRSS()
	if format == outputJSON {
		if err := writeJSON(out, sum); err != nil {
			return err
		}
		if !rep.OK() {
			return exitError(exitProblems)
		}
		return nil
	}
	fmt.Fprintf(out, "archives %d, entries %d, checkpoints %d, XML signatures checked %d (%.0f entries/s, %.0f signatures/s on %d workers)\n",
		len(rep.Archives), rep.Entries, rep.Checkpoints, rep.SignaturesChecked, sum.EntriesPerSec, sum.SigsPerSec, workers)
	seen := map[string]bool{}
	for _, a := range rep.Archives {
		for _, fp := range a.Report.HubCerts {
			if !seen[fp] {
				seen[fp] = true
				fmt.Fprintf(out, "hub certificate in archive: %s (compare with the one published out of band)\n", fp)
			}
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(out, "note:", n)
	}
	if len(rep.Problems) > 0 {
		for _, p := range rep.Problems {
			fmt.Fprintf(out, "PROBLEM: %s: %s\n", p.Path, p.Error())
		}
		return exitError(exitProblems)
	}
	fmt.Fprintln(out, "OK: nothing altered, removed, inserted or reordered")
	return nil
}

// verifyChain verifies the archives of paths, in that order, streaming, as
// one chain.
func verifyChain(ctx context.Context, paths []string, workers int, errOut io.Writer) (*audit.ChainReport, *verifySummary, error) {
	lessGC()
	start := time.Now()
	rep, err := audit.VerifyChainFiles(ctx, paths, audit.ChainOptions{
		XML: certsVerifier, Workers: workers, Progress: progressTo(errOut, "verify"),
	})
	if err != nil {
		return nil, nil, err
	}
	d := time.Since(start)
	return rep, &verifySummary{
		ChainReport: rep, OK: rep.OK(), Workers: workers, Seconds: d.Seconds(),
		EntriesPerSec: perSecond(int64(rep.Entries), d), SigsPerSec: perSecond(int64(rep.SignaturesChecked), d),
	}, nil
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
	_ = c.RegisterFlagCompletionFunc("agency", agencyCompletion)
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
