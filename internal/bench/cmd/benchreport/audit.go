package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehub/gatehub/internal/bench"
)

// auditResults are the audit tools' rows of the report.
type auditResults struct {
	rows       []*bench.AuditRow
	storage    *bench.StorageRow
	storageErr error
	err        error
}

// runAudit measures export, verify and replay on synthetic logs of each
// size in decls, as separate processes, and where a round trip's bytes go
// in the embedded store.
func (r *report) runAudit(decls []int, storageDecls int) {
	log.Print("7/7 audit tools")
	dir, err := os.MkdirTemp("", "gatehub-benchreport-ctl-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin, err := bench.BuildCtl(r.root, dir)
	if err != nil {
		r.audit.err = err
		return
	}
	for _, n := range decls {
		row, err := bench.MeasureAudit(context.Background(), r.root, bin, n, 2*time.Second)
		if err != nil {
			r.audit.err = err
			return
		}
		log.Printf("  %d entries: export %.0f, verify %.0f (%.0f %% of bound), replay %.0f entries/s; max RSS %d/%d/%d MiB",
			row.Entries, row.ExportRate, row.VerifyRate, 100*row.VerifyRatio, row.ReplayRate,
			row.Export.MaxRSS>>20, row.Verify.MaxRSS>>20, row.Replay.MaxRSS>>20)
		r.audit.rows = append(r.audit.rows, row)
	}
	hdir, err := os.MkdirTemp("", "gatehub-benchreport-storage-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(hdir)
	h, err := bench.StartHub(r.root, hdir, "")
	if err != nil {
		r.audit.storageErr = err
		return
	}
	_, err = h.RunEndToEnd(context.Background(), storageDecls, 8)
	if cerr := h.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		r.audit.storage, err = bench.MeasureStorage(filepath.Join(hdir, "gatehub.db"), storageDecls)
	}
	r.audit.storageErr = err
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func (r *report) renderAudit(b *bytes.Buffer) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format+"\n", a...) }
	p("## 7. Audit tools: export, verify, replay")
	p("")
	p("Synthetic logs in the hub's shape (%d entries and %d XML signatures per declaration: real", bench.EntriesPerDeclaration, bench.SignaturesPerDeclaration)
	p("declarations, agency messages signed by the hub (RSA-2048; SM2 for Guangxi), one ACK per message signed under its agency's profile), in an")
	p("embedded store. Each tool runs as its own `gatehubctl` process: `audit export --out-dir` (a chain")
	p("rotated at 64 MiB), `audit verify` (signatures on every core), `audit replay --no-compare` (which")
	p("verifies the chain first, then replays it into a fresh store). Rates are entries per second of")
	p("wall time; max RSS is each process's own peak (VmHWM). The verifier bound is our XML signature")
	p("verifier alone on one core over the same mix of signed payloads, times the cores, measured just")
	p("before verify; verify ÷ bound compares verify's signatures/s with it, and per CPU compares")
	p("verify's signatures per CPU-second with the one-core rate (what each busy core achieves).")
	p("")
	if r.audit.err != nil {
		// The error carries the tool's whole output: the report keeps its
		// start, enough to say what failed.
		msg := r.audit.err.Error()
		if len(msg) > 2000 {
			msg = msg[:2000] + " …"
		}
		p("Failed: %s", msg)
		p("")
	}
	p("| entries | archives | export entries/s | verify entries/s | replay entries/s | max RSS export / verify / replay | verify sig/s | verifier bound × cores | verify ÷ bound | per CPU |")
	p("|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
	for _, row := range r.audit.rows {
		p("| %d | %d | %.0f | %.0f | %.0f | %s / %s / %s | %.0f | %.0f | %.0f %% | %.0f %% |",
			row.Entries, row.Archives, row.ExportRate, row.VerifyRate, row.ReplayRate,
			mib(row.Export.MaxRSS), mib(row.Verify.MaxRSS), mib(row.Replay.MaxRSS),
			row.SignaturesPerSecond, row.VerifierBound, 100*row.VerifyRatio, 100*row.VerifyCPURatio)
	}
	p("")
	if n := len(r.audit.rows); n > 0 {
		renderProvinceYear(p, r.audit.rows[n-1])
	}
	p("### 7a. Bytes per declaration")
	p("")
	p("| where | bytes per declaration |")
	p("|---|---:|")
	for _, row := range r.audit.rows {
		p("| synthetic log, embedded store file (audit log only), %d entries | %.0f |", row.Entries, row.StoreBytesPerDecl)
		p("| synthetic log, archive chain (gzip), %d entries | %.0f |", row.Entries, row.ArchiveBytesPerDecl)
	}
	if s := r.audit.storage; s != nil {
		p("| real round trips (%d until CLEARED), embedded store file | %.0f |", s.Declarations, s.FileBytesPerDecl)
		p("| … of which signed messages in `messages.body` | %.0f |", s.MessageBodyPerDecl)
		p("| … of which signed ACKs in `acks.raw` | %.0f |", s.AckRawPerDecl)
		p("| … of which all audit payloads | %.0f |", s.AuditPayloadPerDecl)
		p("| … of which signed messages and ACKs kept again in `audit_log.payload` (the entries refer to their rows instead, migration 0008) | %.0f |", s.AuditSignedPerDecl)
	}
	if r.audit.storageErr != nil {
		p("")
		p("Storage run failed: %v", r.audit.storageErr)
	}
	p("")
}

// A province-year: Lạng Sơn passes ~700,000 trucks a year, at the hub's
// EntriesPerDeclaration.
const (
	provinceYearDecls   = 700_000
	provinceYearEntries = provinceYearDecls * bench.EntriesPerDeclaration
)

// renderProvinceYear extrapolates a province-year from the larger log's
// measured rates. Time scales with the log at those rates; memory does not
// (the tools stream, and max RSS at the two sizes shows it), so the
// larger log's max RSS is the province-year's.
func renderProvinceYear(p func(string, ...any), row *bench.AuditRow) {
	dur := func(rate float64) string {
		if rate <= 0 {
			return "n/a"
		}
		return (time.Duration(float64(provinceYearEntries)/rate) * time.Second).Round(time.Minute).String()
	}
	archives := float64(provinceYearDecls) * row.ArchiveBytesPerDecl / (64 << 20)
	p("A province-year (%d declarations, %.1f M entries), extrapolated from the %d-entry log's rates:", provinceYearDecls, float64(provinceYearEntries)/1e6, row.Entries)
	p("")
	p("| tool | time | max RSS |")
	p("|---|---:|---:|")
	p("| export | %s | %s |", dur(row.ExportRate), mib(row.Export.MaxRSS))
	p("| verify | %s | %s |", dur(row.VerifyRate), mib(row.Verify.MaxRSS))
	p("| replay | %s | %s |", dur(row.ReplayRate), mib(row.Replay.MaxRSS))
	p("")
	p("The archives: ~%.0f of 64 MiB (%.1f GB gzip). Times on this machine's %d cores, which verify uses all of.", archives, float64(provinceYearDecls)*row.ArchiveBytesPerDecl/1e9, row.Cores)
	p("")
}
