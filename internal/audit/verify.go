package audit

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// XMLVerifier checks the XML signature of a signed message as participant
// would have signed it at time at. It is injected so that this package does
// not depend on the XML-DSig code, and so that an auditor can use their own.
type XMLVerifier func(participant string, xml []byte, at time.Time) error

// Report is the result of verifying an archive. The archive is sound when
// Problems is empty; Notes say what was not or could not be checked.
type Report struct {
	Entries           int `json:"entries"`
	Checkpoints       int `json:"checkpoints"`
	SignaturesChecked int `json:"signatures_checked"` // XML signatures of message.outbound and ack.inbound payloads checked
	SignaturesSkipped int `json:"signatures_skipped"` // XML signatures not checked because no XMLVerifier was given
	// HubCerts are the SHA-256 fingerprints (hex, of the DER) of the hub
	// certificates the archive carries. The archive vouches for itself, so
	// an auditor must compare them with the hub certificate obtained out of
	// band: someone able to rewrite the whole archive can also swap them.
	HubCerts []string `json:"hub_certs"`
	// Anchored is the highest seq a sound checkpoint in the archive covers
	// (0 without one): the entries up to it cannot be rewritten without
	// the hub key.
	Anchored        int64     `json:"anchored"`
	Problems        []Problem `json:"problems"`
	ProblemsOmitted int       `json:"problems_omitted,omitempty"`
	Notes           []string  `json:"notes"`
}

// OK reports whether no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// uncoveredNote ends the note on entries no checkpoint covers.
const uncoveredNote = "; only continuity with the next archive shows they were not cut off"

// maxProblems bounds the problems a report lists one by one: an archive
// damaged throughout would otherwise fill memory with them. The rest are
// counted in Report.ProblemsOmitted.
const maxProblems = 10000

// VerifyArchive reads an archive and verifies it (Archive.Verify). The
// error is for an archive that cannot be read at all; integrity failures
// are in the report.
func VerifyArchive(r io.Reader, xmlv XMLVerifier) (*Report, error) {
	a, err := ReadArchive(r)
	if err != nil {
		return nil, fmt.Errorf("verify audit archive: %w", err)
	}
	return a.Verify(xmlv), nil
}

// Verify checks the chain of entries, that the manifest describes them,
// every checkpoint (signed by a hub certificate in the archive that was
// valid when it was made, and equal to the hash of its entry), and, through
// xmlv, the XML signature of every message.outbound (by the hub) and
// ack.inbound (by its agency). With a nil xmlv, XML signatures are counted
// as skipped and a note says so. Problems are sorted by Seq, archive-wide
// ones (Seq 0) first. ArchiveReader.Verify checks the same, streaming and
// in parallel.
func (a *Archive) Verify(xmlv XMLVerifier) *Report {
	v := newVerifier(a.Manifest, a.Checkpoints, a.Certs)
	for i := range a.Entries {
		e := &a.Entries[i]
		if participant, ok := v.entry(e); ok {
			v.signature(e, participant, xmlv)
		}
	}
	return v.end()
}

// VerifyOptions configure ArchiveReader.Verify.
type VerifyOptions struct {
	XML XMLVerifier
	// Workers check XML signatures side by side (default: one per core).
	// The chain is checked in order by the reading goroutine.
	Workers  int
	Progress func(Progress)
}

// Verify reads the rest of the archive and checks what Archive.Verify
// checks, holding one entry per worker at most: the chain in order as
// entries are read, XML signatures on opts.Workers goroutines. The error
// is for an archive that cannot be read to its end.
func (a *ArchiveReader) Verify(ctx context.Context, opts VerifyOptions) (*Report, error) {
	v := newVerifier(a.Manifest, a.Checkpoints, a.Certs)
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type job struct {
		e           *store.AuditEntry
		participant string
	}
	jobs := make(chan job, 4*workers)
	var wg sync.WaitGroup
	if opts.XML != nil {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					v.signature(j.e, j.participant, opts.XML)
				}
			}()
		}
	}
	stop := func() {
		close(jobs)
		wg.Wait()
	}
	tk := newTicker(opts.Progress)
	var p Progress
	p.Total = int64(a.Manifest.Entries)
	for {
		if err := ctx.Err(); err != nil {
			stop()
			return nil, err
		}
		e, err := a.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			stop()
			return nil, err
		}
		if participant, ok := v.entry(e); ok {
			if opts.XML == nil {
				v.signature(e, participant, nil)
			} else {
				jobs <- job{e, participant}
			}
		}
		p.Entries++
		p.Bytes = a.BytesRead()
		tk.tick(p, false)
	}
	stop()
	tk.tick(p, true)
	return v.end(), nil
}

// verifier checks an archive entry by entry. entry runs in log order on one
// goroutine; signature may run on several at once.
type verifier struct {
	m   Manifest
	hub []*x509.Certificate
	rep *Report

	cps      []store.AuditCheckpoint
	cpSig    []string         // signature problem per checkpoint, "" when sound
	cpBySeq  map[int64][]int  // seq → indexes into cps
	cpHashes map[int64][]byte // hash of the first entry with a checkpointed seq
	prev     []byte
	broken   bool // the chain failed: later links are not checked
	n        int
	lo, hi   time.Time
	lastSeq  int64
	lastHash []byte
	chainP   []Problem
	mu       sync.Mutex // guards sigP, omitted and the signature counters
	sigP     []Problem
	omitted  int
}

func newVerifier(m Manifest, cps []store.AuditCheckpoint, certs map[string][]*x509.Certificate) *verifier {
	v := &verifier{
		m: m, hub: certs[HubParticipant], rep: &Report{Checkpoints: len(cps)},
		cps: cps, cpBySeq: map[int64][]int{}, cpHashes: map[int64][]byte{},
	}
	for _, c := range v.hub {
		v.rep.HubCerts = append(v.rep.HubCerts, fingerprint(c.Raw))
	}
	for i, cp := range cps {
		v.cpBySeq[cp.Seq] = append(v.cpBySeq[cp.Seq], i)
		v.cpSig = append(v.cpSig, checkpointSignature(cp, v.hub))
	}
	start, prev := m.FromSeq, []byte(m.PrevHash)
	switch {
	case start < 1:
		v.chainFail(Problem{Reason: fmt.Sprintf("chain cannot start at seq %d", start)})
	case start == 1 && len(prev) != 0:
		v.chainFail(Problem{Seq: 1, Reason: "first entry of the log must not continue from a hash"})
	case start > 1 && len(prev) != HashSize:
		v.chainFail(Problem{Seq: start, Reason: fmt.Sprintf("continues from a %d-byte hash, want %d", len(prev), HashSize)})
	}
	v.prev = prev
	return v
}

func (v *verifier) chainFail(p Problem) {
	v.chainP = append(v.chainP, p)
	v.broken = true
}

// entry checks e's place in the chain and returns whose XML signature its
// payload must carry, if any.
func (v *verifier) entry(e *store.AuditEntry) (string, bool) {
	v.n++
	t := truncTime(e.Time)
	if v.n == 1 || t.Before(v.lo) {
		v.lo = t
	}
	if v.n == 1 || t.After(v.hi) {
		v.hi = t
	}
	v.lastSeq, v.lastHash = e.Seq, e.Hash
	if !v.broken {
		want := v.m.FromSeq + int64(v.n-1)
		switch {
		case e.Seq != want:
			v.chainFail(Problem{Seq: want, Reason: seqReason(want, e.Seq)})
		case !bytes.Equal(e.PrevHash, v.prev):
			v.chainFail(Problem{Seq: want, Reason: fmt.Sprintf("prev hash %s does not link to %s (an earlier entry rewritten, or an entry inserted or removed)",
				short(e.PrevHash), short(v.prev))})
		case len(e.Hash) != HashSize:
			v.chainFail(Problem{Seq: want, Reason: fmt.Sprintf("hash is %d bytes, want %d", len(e.Hash), HashSize)})
		case !bytes.Equal(EntryHash(v.prev, e), e.Hash):
			v.chainFail(Problem{Seq: want, Reason: "hash mismatch (entry modified)"})
		default:
			v.prev = e.Hash
		}
	}
	if _, ok := v.cpBySeq[e.Seq]; ok {
		if _, seen := v.cpHashes[e.Seq]; !seen {
			v.cpHashes[e.Seq] = bytes.Clone(e.Hash)
		}
	}
	if e.Kind != KindMessageOutbound && e.Kind != KindAckInbound && e.Kind != KindAgencyMessage {
		return "", false
	}
	participant := HubParticipant
	if e.Kind == KindAckInbound || e.Kind == KindAgencyMessage {
		participant = e.Agency
	}
	if participant == "" {
		v.sigProblem(e.Seq, fmt.Sprintf("%s without an agency: cannot tell whose signature to check", e.Kind))
		return "", false
	}
	return participant, true
}

// signature checks e's XML signature by participant (counted as skipped
// without xmlv). Safe for concurrent use.
func (v *verifier) signature(e *store.AuditEntry, participant string, xmlv XMLVerifier) {
	if xmlv == nil {
		v.mu.Lock()
		v.rep.SignaturesSkipped++
		v.mu.Unlock()
		return
	}
	err := xmlv(participant, e.Payload, e.Time)
	v.mu.Lock()
	v.rep.SignaturesChecked++
	v.mu.Unlock()
	if err != nil {
		v.sigProblem(e.Seq, fmt.Sprintf("%s XML signature by %s: %v", e.Kind, participant, err))
	}
}

func (v *verifier) sigProblem(seq int64, reason string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.sigP) >= maxProblems {
		v.omitted++
		return
	}
	v.sigP = append(v.sigP, Problem{Seq: seq, Reason: reason})
}

// end checks what needs every entry seen (manifest, checkpoints) and
// returns the report.
func (v *verifier) end() *Report {
	rep := v.rep
	rep.Entries = v.n
	var manP, cpP []Problem
	add := func(list *[]Problem, seq int64, format string, args ...any) {
		*list = append(*list, Problem{Seq: seq, Reason: fmt.Sprintf(format, args...)})
	}
	m := v.m
	if v.n == 0 {
		add(&manP, 0, "archive holds no entries")
	} else {
		// The head hash is only comparable when the entries end where the
		// manifest says; otherwise the seq mismatch is the finding.
		switch {
		case v.lastSeq < m.ToSeq:
			add(&manP, v.lastSeq+1, "missing: manifest ends at seq %d, entries end at %d (entries cut off)", m.ToSeq, v.lastSeq)
		case v.lastSeq > m.ToSeq:
			add(&manP, m.ToSeq+1, "manifest ends at seq %d, entries continue to %d (entries appended)", m.ToSeq, v.lastSeq)
		case !bytes.Equal(v.lastHash, m.HeadHash):
			add(&manP, v.lastSeq, "hash %s differs from manifest head hash %s", short(v.lastHash), short(m.HeadHash))
		}
		if m.Entries != v.n {
			add(&manP, 0, "manifest counts %d entries, archive holds %d", m.Entries, v.n)
		}
		if m.Checkpoints != len(v.cps) {
			add(&manP, 0, "manifest counts %d checkpoints, archive holds %d", m.Checkpoints, len(v.cps))
		}
		if !v.lo.Equal(m.FromTime) || !v.hi.Equal(m.ToTime) {
			add(&manP, 0, "manifest time span %s..%s, entries span %s..%s",
				m.FromTime.Format(time.RFC3339Nano), m.ToTime.Format(time.RFC3339Nano), v.lo.Format(time.RFC3339Nano), v.hi.Format(time.RFC3339Nano))
		}
		want := ""
		if n := len(v.cps); n > 0 {
			want = v.cps[n-1].KeyID
		}
		if m.HubKeyID != want {
			add(&manP, 0, "manifest hub key id %q, newest checkpoint key id %q", m.HubKeyID, want)
		}
	}
	var anchored, prevSeq int64
	for i, cp := range v.cps {
		if i > 0 && cp.Seq <= prevSeq {
			add(&cpP, cp.Seq, "checkpoint out of order or duplicated (after checkpoint at seq %d)", prevSeq)
		}
		prevSeq = cp.Seq
		ok := true
		h, seen := v.cpHashes[cp.Seq]
		switch {
		case cp.Seq < m.FromSeq || cp.Seq > m.ToSeq:
			add(&cpP, cp.Seq, "checkpoint outside the archive's range %d..%d", m.FromSeq, m.ToSeq)
			ok = false
		case !seen:
			add(&cpP, cp.Seq, "checkpointed entry missing")
			ok = false
		case !bytes.Equal(h, cp.Hash):
			add(&cpP, cp.Seq, "hash %s differs from checkpointed hash %s (entry or checkpoint modified)", short(h), short(cp.Hash))
			ok = false
		}
		if problem := v.cpSig[i]; problem != "" {
			add(&cpP, cp.Seq, "checkpoint %s", problem)
			ok = false
		}
		if ok && cp.Seq > anchored {
			anchored = cp.Seq
		}
	}
	rep.Anchored = anchored
	if n := v.lastSeq - anchored; v.n > 0 && n > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf(
			"%d entries after seq %d are not covered by a checkpoint in this archive%s", n, anchored, uncoveredNote))
	}
	if rep.SignaturesSkipped > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d XML signatures were not checked: no XML verifier given", rep.SignaturesSkipped))
	}
	// Workers finish in any order: put their findings in log order first.
	sort.SliceStable(v.sigP, func(i, j int) bool { return v.sigP[i].Seq < v.sigP[j].Seq })
	rep.Problems = append(append(append(append(rep.Problems, v.chainP...), manP...), cpP...), v.sigP...)
	sort.SliceStable(rep.Problems, func(i, j int) bool { return rep.Problems[i].Seq < rep.Problems[j].Seq })
	if v.omitted > 0 {
		rep.ProblemsOmitted = v.omitted
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d more problems not listed (at most %d are)", v.omitted, maxProblems))
	}
	return rep
}

// checkpointSignature returns "" when some hub certificate, valid when cp
// was made, verifies cp; otherwise why not. Trying every hub certificate
// keeps verification working across key rotation.
func checkpointSignature(cp store.AuditCheckpoint, hub []*x509.Certificate) string {
	if len(hub) == 0 {
		return "cannot be checked: no hub certificate in the archive"
	}
	signedOutside := false
	for _, c := range hub {
		if VerifyCheckpoint(cp, c.PublicKey) != nil {
			continue
		}
		if cp.CreatedAt.Before(c.NotBefore) || cp.CreatedAt.After(c.NotAfter) {
			signedOutside = true
			continue
		}
		return ""
	}
	if signedOutside {
		return fmt.Sprintf("signed at %s, outside the validity of the hub certificate", cp.CreatedAt.Format(time.RFC3339))
	}
	return "signature invalid (key id " + fmt.Sprintf("%q", cp.KeyID) + ")"
}

// VerifyContinuity checks that the archive described by next starts right
// after the one described by prev ends, from the hash prev ends with, so
// that no entry fell between two archives and neither was rewritten at the
// seam. It returns a *Problem or nil.
func VerifyContinuity(prev, next Manifest) error {
	switch want := prev.ToSeq + 1; {
	case next.FromSeq > want:
		return &Problem{Seq: want, Reason: fmt.Sprintf("gap between archives: seq %d..%d are in neither", want, next.FromSeq-1)}
	case next.FromSeq < want:
		return &Problem{Seq: next.FromSeq, Reason: fmt.Sprintf("archives overlap: next starts at seq %d, previous ends at %d", next.FromSeq, prev.ToSeq)}
	}
	if len(prev.HeadHash) != HashSize || !bytes.Equal(next.PrevHash, prev.HeadHash) {
		return &Problem{Seq: next.FromSeq, Reason: fmt.Sprintf("continues from hash %s, previous archive ends with %s",
			short(next.PrevHash), short(prev.HeadHash))}
	}
	return nil
}
