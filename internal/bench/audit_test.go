package bench

import (
	"context"
	"testing"
	"time"
)

// BenchmarkAuditTools runs export, verify and replay as separate processes
// on synthetic logs of two sizes (about 2,200 and 22,000 entries) and
// reports their rates, their maximum resident set, and verify's share of
// the XML verifier's bound on every core. Memory not growing with the log
// shows as max RSS staying flat from one size to the other.
func BenchmarkAuditTools(b *testing.B) {
	r := root(b)
	bin, err := BuildCtl(r, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for _, decls := range []int{100, 1000} {
		b.Run(itoa(decls*EntriesPerDeclaration)+"entries", func(b *testing.B) {
			var row *AuditRow
			for b.Loop() {
				if row, err = MeasureAudit(context.Background(), r, bin, decls, 500*time.Millisecond); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(row.ExportRate, "export-entries/s")
			b.ReportMetric(row.VerifyRate, "verify-entries/s")
			b.ReportMetric(row.ReplayRate, "replay-entries/s")
			b.ReportMetric(float64(row.Export.MaxRSS)/(1<<20), "export-maxrss-MiB")
			b.ReportMetric(float64(row.Verify.MaxRSS)/(1<<20), "verify-maxrss-MiB")
			b.ReportMetric(float64(row.Replay.MaxRSS)/(1<<20), "replay-maxrss-MiB")
			b.ReportMetric(row.VerifyRatio, "verify/bound")
			b.ReportMetric(row.VerifyCPURatio, "verify-per-cpu/bound-per-core")
			b.ReportMetric(row.ArchiveBytesPerDecl, "archive-B/decl")
			b.ReportMetric(row.StoreBytesPerDecl, "log-store-B/decl")
		})
	}
}

// BenchmarkStoragePerDeclaration runs declarations until CLEARED on the
// embedded store and reports where their bytes went.
func BenchmarkStoragePerDeclaration(b *testing.B) {
	r := root(b)
	for b.Loop() {
		dir := b.TempDir()
		h, err := StartHub(r, dir, "")
		if err != nil {
			b.Fatal(err)
		}
		const n = 50
		if _, err := h.RunEndToEnd(context.Background(), n, 8); err != nil {
			b.Fatal(err)
		}
		if err := h.Close(); err != nil {
			b.Fatal(err)
		}
		row, err := MeasureStorage(dir+"/gatehub.db", n)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(row.FileBytesPerDecl, "store-B/decl")
		b.ReportMetric(row.MessageBodyPerDecl, "messages.body-B/decl")
		b.ReportMetric(row.AckRawPerDecl, "acks.raw-B/decl")
		b.ReportMetric(row.AuditSignedPerDecl, "audit-signed-B/decl")
		b.ReportMetric(row.AuditPayloadPerDecl, "audit-payload-B/decl")
	}
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}
