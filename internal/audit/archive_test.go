package audit

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// fixture is a 12-entry log with checkpoints at seq 4 and 12, and the
// certificates an auditor needs for it.
type fixture struct {
	st      *memStore
	hubKey  crypto.Signer
	certs   map[string][]*x509.Certificate
	archive []byte // export of the whole log
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{st: &memStore{}, hubKey: newECKey(t)}
	c := NewCheckpointer(f.hubKey, "hub-2026")
	appendN(t, f.st, 4, t0)
	checkpoint(t, f.st, c, t0.Add(time.Hour))
	appendN(t, f.st, 8, t0.Add(2*time.Hour))
	checkpoint(t, f.st, c, t0.Add(3*time.Hour))
	f.certs = map[string][]*x509.Certificate{
		"hub":     {selfSigned(t, f.hubKey, "hub", t0.AddDate(-1, 0, 0), t0.AddDate(1, 0, 0))},
		"customs": {selfSigned(t, newECKey(t), "customs", t0.AddDate(-1, 0, 0), t0.AddDate(1, 0, 0))},
	}
	f.archive = f.export(t, store.AuditFilter{})
	return f
}

func (f *fixture) export(t testing.TB, flt store.AuditFilter) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Export(context.Background(), f.st, flt, f.certs, t0.Add(24*time.Hour), &buf); err != nil {
		t.Fatalf("Export: %v", err)
	}
	return buf.Bytes()
}

// signerXML stands in for the XML-DSig verifier: the test payloads name
// their signer, and a payload signed by someone else fails.
func signerXML(participant string, xml []byte, _ time.Time) error {
	if !bytes.Contains(xml, []byte(`signer="`+participant+`"`)) {
		return fmt.Errorf("not signed by %s", participant)
	}
	return nil
}

func mustRead(t *testing.T, b []byte) *Archive {
	t.Helper()
	a, err := ReadArchive(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("ReadArchive: %v", err)
	}
	return a
}

func rewrite(t *testing.T, a *Archive) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeArchive(&buf, a); err != nil {
		t.Fatalf("writeArchive: %v", err)
	}
	return buf.Bytes()
}

// mustVerify verifies b in memory and streaming, side by side, and fails
// unless both give the same report.
func mustVerify(t *testing.T, b []byte, xmlv XMLVerifier) *Report {
	t.Helper()
	rep, err := VerifyArchive(bytes.NewReader(b), xmlv)
	if err != nil {
		t.Fatalf("VerifyArchive: %v", err)
	}
	streamed := streamVerify(t, b, xmlv, 3)
	if !reflect.DeepEqual(rep, streamed) {
		t.Fatalf("streaming report differs:\n in memory %+v\n streamed  %+v", rep, streamed)
	}
	return rep
}

func streamVerify(t testing.TB, b []byte, xmlv XMLVerifier, workers int) *Report {
	t.Helper()
	ar, err := OpenArchive(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatalf("OpenArchive: %v", err)
	}
	defer ar.Close()
	rep, err := ar.Verify(context.Background(), VerifyOptions{XML: xmlv, Workers: workers})
	if err != nil {
		t.Fatalf("ArchiveReader.Verify: %v", err)
	}
	if sum := sha256.Sum256(b); !bytes.Equal(ar.SHA256(), sum[:]) {
		t.Fatalf("SHA256 = %x, want %x", ar.SHA256(), sum)
	}
	return rep
}

func TestExportVerifiesClean(t *testing.T) {
	f := newFixture(t)
	rep := mustVerify(t, f.archive, signerXML)
	if !rep.OK() || len(rep.Notes) != 0 {
		t.Fatalf("problems %v, notes %v", rep.Problems, rep.Notes)
	}
	if rep.Entries != 12 || rep.Checkpoints != 2 || rep.SignaturesChecked != 6 || rep.SignaturesSkipped != 0 {
		t.Fatalf("report %+v", rep)
	}
	if want := []string{fingerprint(f.certs["hub"][0].Raw)}; !reflect.DeepEqual(rep.HubCerts, want) {
		t.Fatalf("HubCerts = %v, want %v", rep.HubCerts, want)
	}

	a := mustRead(t, f.archive)
	if !reflect.DeepEqual(a.Entries, f.st.entries) {
		t.Fatal("entries do not round-trip")
	}
	if !reflect.DeepEqual(a.Checkpoints, f.st.cps) {
		t.Fatalf("checkpoints do not round-trip:\n%+v\n%+v", a.Checkpoints, f.st.cps)
	}
	if len(a.Certs["hub"]) != 1 || !a.Certs["hub"][0].Equal(f.certs["hub"][0]) || len(a.Certs["customs"]) != 1 {
		t.Fatalf("certs = %v", a.Certs)
	}
	m := a.Manifest
	want := Manifest{
		Format: ArchiveFormat, Version: ArchiveVersion, EntryEncoding: EntryEncoding, CheckpointEncoding: CheckpointEncoding,
		FromSeq: 1, ToSeq: 12, Entries: 12, Checkpoints: 2,
		FromTime: truncTime(t0), ToTime: truncTime(t0.Add(2*time.Hour + 7*time.Second)),
		HeadHash: f.st.entries[11].Hash, CreatedAt: truncTime(t0.Add(24 * time.Hour)), HubKeyID: "hub-2026",
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("manifest\n got %+v\nwant %+v", m, want)
	}

	if again := f.export(t, store.AuditFilter{}); !bytes.Equal(again, f.archive) {
		t.Fatal("exporting the same log twice gave different bytes")
	}

	t.Run("without XML verifier", func(t *testing.T) {
		rep := mustVerify(t, f.archive, nil)
		if !rep.OK() || rep.SignaturesChecked != 0 || rep.SignaturesSkipped != 6 || len(rep.Notes) != 1 ||
			!strings.Contains(rep.Notes[0], "not checked") {
			t.Fatalf("report %+v", rep)
		}
	})
}

func TestArchiveTamper(t *testing.T) {
	f := newFixture(t)
	other := newECKey(t)
	// Seq 6 is a message.outbound; checkpoints sit at 4 and 12.
	const at = 5 // index of seq 6
	tests := []struct {
		name    string
		tamper  func(t *testing.T, a *Archive)
		wantSeq int64
		want    string
	}{
		{"seq", func(_ *testing.T, a *Archive) { a.Entries[at].Seq = 60 }, 6, "missing"},
		{"time", func(_ *testing.T, a *Archive) { a.Entries[at].Time = a.Entries[at].Time.Add(time.Second) }, 6, "entry modified"},
		{"kind", func(_ *testing.T, a *Archive) { a.Entries[at].Kind = KindDecision }, 6, "entry modified"},
		{"actor", func(_ *testing.T, a *Archive) { a.Entries[at].Actor = "operator:mallory" }, 6, "entry modified"},
		{"declaration id", func(_ *testing.T, a *Archive) { a.Entries[at].DeclarationID = "D-9" }, 6, "entry modified"},
		{"message id", func(_ *testing.T, a *Archive) { a.Entries[at].MessageID = "M-99" }, 6, "entry modified"},
		{"agency", func(_ *testing.T, a *Archive) { a.Entries[at].Agency = "guangxi" }, 6, "entry modified"},
		{"plate", func(_ *testing.T, a *Archive) { a.Entries[at].Plate = "15C-99999" }, 6, "entry modified"},
		{"payload", func(_ *testing.T, a *Archive) { a.Entries[at].Payload = []byte(`<Submit signer="hub" amount="0"/>`) }, 6, "entry modified"},
		{"prev hash", func(_ *testing.T, a *Archive) { a.Entries[at].PrevHash[3] ^= 0x10 }, 6, "does not link"},
		{"hash", func(_ *testing.T, a *Archive) { a.Entries[at].Hash[3] ^= 0x10 }, 6, "entry modified"},
		{"modified and rehashed", func(_ *testing.T, a *Archive) {
			e := &a.Entries[at]
			e.Plate = "15C-99999"
			e.Hash = EntryHash(e.PrevHash, e)
		}, 7, "does not link"},
		{"last entry modified and rehashed, manifest fixed", func(_ *testing.T, a *Archive) {
			e := &a.Entries[11]
			e.Plate = "15C-99999"
			e.Hash = EntryHash(e.PrevHash, e)
			a.Manifest.HeadHash = e.Hash
		}, 12, "differs from checkpointed hash"},
		{"delete", func(_ *testing.T, a *Archive) { a.Entries = append(a.Entries[:at:at], a.Entries[at+1:]...) }, 6, "missing"},
		{"delete first", func(_ *testing.T, a *Archive) { a.Entries = a.Entries[1:] }, 1, "missing"},
		{"delete last", func(_ *testing.T, a *Archive) { a.Entries = a.Entries[:11] }, 12, "missing"},
		{"insert, not chained", func(_ *testing.T, a *Archive) {
			ins := cloneEntry(a.Entries[at])
			ins.MessageID = "M-forged"
			a.Entries = append(a.Entries[:at:at], append([]store.AuditEntry{ins}, a.Entries[at:]...)...)
		}, 6, "entry modified"},
		{"insert, chained to its predecessor", func(_ *testing.T, a *Archive) {
			ins := cloneEntry(a.Entries[at])
			ins.MessageID = "M-forged"
			ins.Hash = EntryHash(ins.PrevHash, &ins)
			a.Entries = append(a.Entries[:at:at], append([]store.AuditEntry{ins}, a.Entries[at:]...)...)
		}, 7, "inserted"},
		{"swap", func(_ *testing.T, a *Archive) { a.Entries[at], a.Entries[at+1] = a.Entries[at+1], a.Entries[at] }, 6, "reordered"},
		{"checkpoint signature forged", func(_ *testing.T, a *Archive) {
			a.Checkpoints[1].Signature = bytes.Repeat([]byte{0x30}, 70)
		}, 12, "signature invalid"},
		{"checkpoint time modified", func(_ *testing.T, a *Archive) {
			a.Checkpoints[0].CreatedAt = a.Checkpoints[0].CreatedAt.Add(-time.Minute)
		}, 4, "signature invalid"},
		{"checkpoint moved to another seq", func(_ *testing.T, a *Archive) {
			a.Checkpoints[0].Seq = 5
		}, 5, "differs from checkpointed hash"},
		{"checkpoint signed by another key", func(t *testing.T, a *Archive) {
			a.Checkpoints[0] = signed(t, other, a.Checkpoints[0])
		}, 4, "signature invalid"},
		{"checkpoint by the hub key over the wrong hash", func(t *testing.T, a *Archive) {
			cp := a.Checkpoints[0]
			cp.Hash = a.Entries[2].Hash
			a.Checkpoints[0] = signed(t, f.hubKey, cp)
		}, 4, "differs from checkpointed hash"},
		{"checkpoint beyond the archive", func(t *testing.T, a *Archive) {
			cp := a.Checkpoints[1]
			cp.Seq = 13
			a.Checkpoints[1] = signed(t, f.hubKey, cp)
		}, 12, "not covered by a checkpoint"}, // and seq 13 is outside the range, see below
		{"no hub certificate", func(_ *testing.T, a *Archive) { delete(a.Certs, "hub") }, 4, "no hub certificate"},
		{"checkpoint outside hub certificate validity", func(t *testing.T, a *Archive) {
			a.Certs["hub"] = []*x509.Certificate{selfSigned(t, f.hubKey, "hub", t0.AddDate(1, 0, 0), t0.AddDate(2, 0, 0))}
		}, 4, "outside the validity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustRead(t, f.archive)
			tt.tamper(t, a)
			rep := mustVerify(t, rewrite(t, a), signerXML)
			first := firstEntryProblem(rep)
			if strings.Contains(tt.want, "not covered") {
				// Only the note can name what the lost checkpoint protected.
				if first == nil || first.Seq != 13 || len(rep.Notes) == 0 || !strings.Contains(rep.Notes[0], "after seq 4") {
					t.Fatalf("problems %v, notes %v", rep.Problems, rep.Notes)
				}
				return
			}
			if first == nil || first.Seq != tt.wantSeq || !strings.Contains(first.Reason, tt.want) {
				t.Fatalf("first entry problem %v, want entry %d %q; all: %v", first, tt.wantSeq, tt.want, rep.Problems)
			}
		})
	}
}

func firstEntryProblem(rep *Report) *Problem {
	for i := range rep.Problems {
		if rep.Problems[i].Seq != 0 {
			return &rep.Problems[i]
		}
	}
	return nil
}

func signed(t *testing.T, key crypto.Signer, cp store.AuditCheckpoint) store.AuditCheckpoint {
	t.Helper()
	sig, err := NewCheckpointer(key, cp.KeyID).sign(CheckpointBytes(cp))
	if err != nil {
		t.Fatal(err)
	}
	cp.Signature = sig
	return cp
}

func TestArchiveManifestTamper(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		tamper func(m *Manifest)
		want   string
	}{
		{"entry count", func(m *Manifest) { m.Entries = 11 }, "counts 11 entries"},
		{"checkpoint count", func(m *Manifest) { m.Checkpoints = 1 }, "counts 1 checkpoints"},
		{"head hash", func(m *Manifest) { m.HeadHash = bytes.Repeat([]byte{1}, HashSize) }, "entry 12: hash"},
		{"to seq", func(m *Manifest) { m.ToSeq = 11 }, "entries appended"},
		{"from seq", func(m *Manifest) { m.FromSeq = 2 }, "entry 2"},
		{"prev hash", func(m *Manifest) { m.PrevHash = bytes.Repeat([]byte{1}, HashSize) }, "entry 1"},
		{"time span", func(m *Manifest) { m.ToTime = m.ToTime.Add(time.Hour) }, "time span"},
		{"hub key id", func(m *Manifest) { m.HubKeyID = "hub-2030" }, "hub key id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustRead(t, f.archive)
			tt.tamper(&a.Manifest)
			rep := mustVerify(t, rewrite(t, a), signerXML)
			if rep.OK() || !strings.Contains(rep.Problems[0].Error(), tt.want) {
				t.Fatalf("problems %v, want %q first", rep.Problems, tt.want)
			}
		})
	}
}

func TestArchiveXMLSignatureFailure(t *testing.T) {
	st := &memStore{}
	appendN(t, st, 6, t0)
	ctx := context.Background()
	bad := store.AuditEntry{Kind: KindAckInbound, Time: t0.Add(time.Minute), Actor: "customs", Agency: "customs",
		MessageID: "M-5", Payload: []byte(`<Ack signer="borderguard"/>`)}
	if err := st.WithTx(ctx, func(tx store.Tx) error { return Append(ctx, tx, &bad) }); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := Export(ctx, st, store.AuditFilter{}, nil, t0, &buf); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, buf.Bytes(), signerXML)
	if rep.SignaturesChecked != 4 || len(rep.Problems) != 1 {
		t.Fatalf("report %+v", rep)
	}
	if got := rep.Problems[0].Error(); got != "entry 7: ack.inbound XML signature by customs: not signed by customs" {
		t.Fatalf("problem %q", got)
	}
}

func TestExportRanges(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	base := truncTime(t0)
	appendN(t, st, 10, base) // seq n at base + (n-1)s
	// Seq 11 carries a clock that ran behind: its time falls inside the
	// window below though its seq is outside it.
	late := store.AuditEntry{Kind: KindDecision, Time: base.Add(3 * time.Second), Payload: []byte(`{}`)}
	if err := st.WithTx(ctx, func(tx store.Tx) error { return Append(ctx, tx, &late) }); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		f        store.AuditFilter
		from, to int64
		err      string
	}{
		{name: "all", from: 1, to: 11},
		{name: "seq range", f: store.AuditFilter{FromSeq: 3, ToSeq: 5}, from: 3, to: 5},
		{name: "open-ended seq", f: store.AuditFilter{FromSeq: 9}, from: 9, to: 11},
		{name: "time window", f: store.AuditFilter{From: base.Add(5 * time.Second), To: base.Add(8 * time.Second)}, from: 6, to: 8},
		{name: "time window widened to contiguous seqs", f: store.AuditFilter{From: base.Add(3 * time.Second), To: base.Add(5 * time.Second)}, from: 4, to: 11},
		{name: "empty", f: store.AuditFilter{FromSeq: 20}, err: ErrEmptyRange.Error()},
		{name: "empty time window", f: store.AuditFilter{From: base.Add(time.Hour)}, err: ErrEmptyRange.Error()},
		{name: "filtered by kind", f: store.AuditFilter{Kind: KindDecision}, err: "contiguous range"},
		{name: "inverted", f: store.AuditFilter{FromSeq: 5, ToSeq: 2}, err: "bad seq range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			m, err := Export(ctx, st, tt.f, nil, t0, &buf)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.FromSeq != tt.from || m.ToSeq != tt.to || m.Entries != int(tt.to-tt.from+1) {
				t.Fatalf("manifest %d..%d (%d entries), want %d..%d", m.FromSeq, m.ToSeq, m.Entries, tt.from, tt.to)
			}
			if rep := mustVerify(t, buf.Bytes(), signerXML); !rep.OK() {
				t.Fatalf("problems %v", rep.Problems)
			}
		})
	}
}

func TestExportPagesThroughLargeRanges(t *testing.T) {
	st := &memStore{}
	appendN(t, st, 2*exportPageSize+7, t0)
	var buf bytes.Buffer
	m, err := Export(context.Background(), st, store.AuditFilter{FromSeq: 2}, nil, t0, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if m.FromSeq != 2 || m.ToSeq != 2*exportPageSize+7 {
		t.Fatalf("manifest %d..%d", m.FromSeq, m.ToSeq)
	}
	if rep := mustVerify(t, buf.Bytes(), nil); !rep.OK() || rep.Entries != 2*exportPageSize+6 {
		t.Fatalf("report %+v", rep)
	}
}

func TestVerifyContinuity(t *testing.T) {
	f := newFixture(t)
	read := func(flt store.AuditFilter) *Archive { return mustRead(t, f.export(t, flt)) }
	first, second := read(store.AuditFilter{ToSeq: 5}), read(store.AuditFilter{FromSeq: 6})
	for _, a := range []*Archive{first, second} {
		if rep := a.Verify(signerXML); !rep.OK() {
			t.Fatalf("archive %d..%d: %v", a.Manifest.FromSeq, a.Manifest.ToSeq, rep.Problems)
		}
	}
	// The second archive starts mid-log: it must carry what it continues from.
	if !bytes.Equal(second.Manifest.PrevHash, first.Manifest.HeadHash) || second.Entries[0].Seq != 6 {
		t.Fatal("second archive does not start where the first ends")
	}

	truncated := mustRead(t, f.export(t, store.AuditFilter{ToSeq: 4})) // cut off entry 5 entirely
	forgedPrev := second.Manifest
	forgedPrev.PrevHash = bytes.Repeat([]byte{7}, HashSize)
	tests := []struct {
		name       string
		prev, next Manifest
		wantSeq    int64
		want       string
	}{
		{"consecutive", first.Manifest, second.Manifest, 0, ""},
		{"gap", truncated.Manifest, second.Manifest, 5, "gap between archives: seq 5..5"},
		{"overlap", second.Manifest, second.Manifest, 6, "overlap"},
		{"wrong order", second.Manifest, first.Manifest, 1, "overlap"},
		{"prev hash does not match", first.Manifest, forgedPrev, 6, "continues from hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyContinuity(tt.prev, tt.next)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var p *Problem
			if !errors.As(err, &p) || p.Seq != tt.wantSeq || !strings.Contains(p.Reason, tt.want) {
				t.Fatalf("err = %v, want entry %d %q", err, tt.wantSeq, tt.want)
			}
		})
	}
}

type member struct {
	name string
	data string
	typ  byte
}

func tarGz(t testing.TB, ms ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, m := range ms {
		typ := m.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: m.name, Typeflag: typ, Mode: 0o644, Size: int64(len(m.data))}
		if typ != tar.TypeReg {
			hdr.Size, hdr.Linkname = 0, "manifest.json"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(m.data)); err != nil && typ == tar.TypeReg {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// membersOf unpacks an archive so tests can rebuild it with changes.
func membersOf(t testing.TB, b []byte) []member {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var ms []member
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		var data bytes.Buffer
		if _, err := data.ReadFrom(tr); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, member{name: hdr.Name, data: data.String()})
	}
	return ms
}

func TestReadArchiveRefuses(t *testing.T) {
	f := newFixture(t)
	good := membersOf(t, f.archive)
	edit := func(name string, fn func(string) string) []member {
		out := append([]member(nil), good...)
		for i := range out {
			if out[i].name == name {
				out[i].data = fn(out[i].data)
			}
		}
		return out
	}
	with := func(extra ...member) []member {
		return append(append([]member(nil), good...), extra...)
	}
	without := func(name string) []member {
		var out []member
		for _, m := range good {
			if m.name != name {
				out = append(out, m)
			}
		}
		return out
	}
	var certName string
	var renamed []member // the hub certificate filed under a fingerprint not its own
	for _, m := range good {
		if strings.HasPrefix(m.name, "certs/hub/") {
			certName = m.name
			renamed = append(without(certName), member{name: "certs/hub/" + strings.Repeat("0", 64) + ".pem", data: m.data})
		}
	}
	tests := []struct {
		name string
		raw  []byte
		ms   []member
		lim  *readLimits
		want string
	}{
		{name: "not gzip", raw: []byte("manifest.json"), want: "gzip"},
		{name: "empty tar", ms: []member{}, want: "manifest.json missing"},
		{name: "no entries", ms: without(entriesName), want: "entries.jsonl missing"},
		{name: "unknown member", ms: with(member{name: "notes.txt", data: "hi"}), want: "unknown member"},
		{name: "duplicate member", ms: with(good[1]), want: "duplicate member"},
		{name: "path tricks", ms: with(member{name: "certs/../manifest.json", data: "x"}), want: "want certs/"},
		{name: "bad participant", ms: with(member{name: "certs/Hub/x.pem", data: "x"}), want: "participant name"},
		{name: "symlink", ms: with(member{name: "link", typ: tar.TypeSymlink}), want: "not a regular file"},
		{name: "unknown manifest field", ms: edit(manifestName, func(s string) string {
			return strings.Replace(s, "{", `{"signed_by":"x",`, 1)
		}), want: "unknown field"},
		{name: "format version", ms: edit(manifestName, func(s string) string {
			return strings.Replace(s, fmt.Sprintf(`"version": %d`, ArchiveVersion), `"version": 3`, 1)
		}), want: "version 3"},
		{name: "entry encoding", ms: edit(manifestName, func(s string) string {
			return strings.Replace(s, EntryEncoding, "gatehub-audit-entry/v0", 1)
		}), want: "encodings"},
		{name: "unknown entry field", ms: edit(entriesName, func(s string) string {
			return strings.Replace(s, "{", `{"note":"x",`, 1)
		}), want: "line 1"},
		{name: "entry not JSON", ms: edit(entriesName, func(s string) string { return s + "garbage\n" }), want: "line 13"},
		{name: "unterminated line", ms: edit(entriesName, func(s string) string { return strings.TrimSuffix(s, "\n") }), want: "line 12: not terminated"},
		{name: "nanosecond time", ms: edit(entriesName, func(s string) string {
			return strings.Replace(s, `"time":"2026-11-25T08:30:00.123456Z"`, `"time":"2026-11-25T08:30:00.123456001Z"`, 1)
		}), want: "finer than microseconds"},
		{name: "bad hash hex", ms: edit(entriesName, func(s string) string {
			return strings.Replace(s, `"prev_hash":""`, `"prev_hash":"zz"`, 1)
		}), want: "line 1"},
		{name: "checkpoints not an array", ms: edit(checkpointsName, func(string) string { return "{}" }), want: "checkpoints.json"},
		{name: "cert under another name", ms: renamed, want: "does not match certificate fingerprint"},
		{name: "cert not PEM", ms: edit(certName, func(string) string { return "not a cert" }), want: "PEM"},
		{name: "too many members", ms: good, lim: &readLimits{total: 1 << 20, manifest: 1 << 20, checkpoints: 1 << 20, cert: 1 << 20, members: 3, line: 1 << 20}, want: "more than 3 members"},
		{name: "member too large", ms: good, lim: &readLimits{total: 1 << 20, manifest: 16, checkpoints: 1 << 20, cert: 1 << 20, members: 10, line: 1 << 20}, want: "too large"},
		{name: "archive too large", ms: good, lim: &readLimits{total: 512, manifest: 1 << 20, checkpoints: 1 << 20, cert: 1 << 20, members: 10, line: 1 << 20}, want: "too large"},
		{name: "line too long", ms: good, lim: &readLimits{total: 1 << 20, manifest: 1 << 20, checkpoints: 1 << 20, cert: 1 << 20, members: 10, line: 64}, want: "longer than 64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.raw
			if raw == nil {
				raw = tarGz(t, tt.ms...)
			}
			lim := defaultLimits
			if tt.lim != nil {
				lim = *tt.lim
			}
			_, err := readArchive(bytes.NewReader(raw), lim)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if tt.name == "archive too large" {
				return // the streaming reader holds one entry, not the archive: no total limit
			}
			// Members appended after the entries of a version 2 archive are
			// refused for being there before they are looked at.
			err = streamAll(raw, lim)
			if err == nil || (!strings.Contains(err.Error(), tt.want) && !strings.Contains(err.Error(), "member after "+entriesName)) {
				t.Fatalf("streaming: err = %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("rebuilt unchanged still reads", func(t *testing.T) {
		if _, err := ReadArchive(bytes.NewReader(tarGz(t, good...))); err != nil {
			t.Fatal(err)
		}
	})
}

// streamAll reads raw with the streaming reader to its end.
func streamAll(raw []byte, lim readLimits) error {
	ar, err := openArchive(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }, lim)
	if err != nil {
		return err
	}
	defer ar.Close()
	for {
		if _, err := ar.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
