package audit

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"io"
	"sort"
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
	Entries           int
	Checkpoints       int
	SignaturesChecked int // XML signatures of message.outbound and ack.inbound payloads checked
	SignaturesSkipped int // XML signatures not checked because no XMLVerifier was given
	// HubCerts are the SHA-256 fingerprints (hex, of the DER) of the hub
	// certificates the archive carries. The archive vouches for itself, so
	// an auditor must compare them with the hub certificate obtained out of
	// band: someone able to rewrite the whole archive can also swap them.
	HubCerts []string
	Problems []Problem
	Notes    []string
}

// OK reports whether no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

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
// ones (Seq 0) first.
func (a *Archive) Verify(xmlv XMLVerifier) *Report {
	rep := &Report{Entries: len(a.Entries), Checkpoints: len(a.Checkpoints)}
	add := func(seq int64, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{Seq: seq, Reason: fmt.Sprintf(format, args...)})
	}
	m := a.Manifest
	for _, c := range a.Certs[HubParticipant] {
		rep.HubCerts = append(rep.HubCerts, fingerprint(c.Raw))
	}

	if len(a.Entries) == 0 {
		add(0, "archive holds no entries")
	} else {
		if err := VerifyChain(m.PrevHash, m.FromSeq, a.Entries); err != nil {
			if p, ok := err.(*Problem); ok {
				rep.Problems = append(rep.Problems, *p)
			} else {
				add(0, "%v", err)
			}
		}
		verifyManifest(a, add)
	}
	anchored := verifyCheckpoints(a, add)
	if n := lastSeq(a) - anchored; len(a.Entries) > 0 && n > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf(
			"%d entries after seq %d are not covered by a checkpoint in this archive; only continuity with the next archive shows they were not cut off", n, anchored))
	}

	for i := range a.Entries {
		e := &a.Entries[i]
		if e.Kind != KindMessageOutbound && e.Kind != KindAckInbound {
			continue
		}
		participant := HubParticipant
		if e.Kind == KindAckInbound {
			participant = e.Agency
		}
		if participant == "" {
			add(e.Seq, "%s without an agency: cannot tell whose signature to check", e.Kind)
			continue
		}
		if xmlv == nil {
			rep.SignaturesSkipped++
			continue
		}
		rep.SignaturesChecked++
		if err := xmlv(participant, e.Payload, e.Time); err != nil {
			add(e.Seq, "%s XML signature by %s: %v", e.Kind, participant, err)
		}
	}
	if rep.SignaturesSkipped > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d XML signatures were not checked: no XML verifier given", rep.SignaturesSkipped))
	}

	sort.SliceStable(rep.Problems, func(i, j int) bool { return rep.Problems[i].Seq < rep.Problems[j].Seq })
	return rep
}

func lastSeq(a *Archive) int64 {
	if len(a.Entries) == 0 {
		return 0
	}
	return a.Entries[len(a.Entries)-1].Seq
}

// verifyManifest checks the manifest against the entries it describes;
// its start seq and prev hash are checked by VerifyChain, which starts from
// them.
func verifyManifest(a *Archive, add func(int64, string, ...any)) {
	m := a.Manifest
	last := a.Entries[len(a.Entries)-1]
	// The head hash is only comparable when the entries end where the
	// manifest says; otherwise the seq mismatch is the finding.
	switch {
	case last.Seq < m.ToSeq:
		add(last.Seq+1, "missing: manifest ends at seq %d, entries end at %d (entries cut off)", m.ToSeq, last.Seq)
	case last.Seq > m.ToSeq:
		add(m.ToSeq+1, "manifest ends at seq %d, entries continue to %d (entries appended)", m.ToSeq, last.Seq)
	case !bytes.Equal(last.Hash, m.HeadHash):
		add(last.Seq, "hash %s differs from manifest head hash %s", short(last.Hash), short(m.HeadHash))
	}
	if m.Entries != len(a.Entries) {
		add(0, "manifest counts %d entries, archive holds %d", m.Entries, len(a.Entries))
	}
	if m.Checkpoints != len(a.Checkpoints) {
		add(0, "manifest counts %d checkpoints, archive holds %d", m.Checkpoints, len(a.Checkpoints))
	}
	if lo, hi := timeSpan(a.Entries); !lo.Equal(m.FromTime) || !hi.Equal(m.ToTime) {
		add(0, "manifest time span %s..%s, entries span %s..%s",
			m.FromTime.Format(time.RFC3339Nano), m.ToTime.Format(time.RFC3339Nano), lo.Format(time.RFC3339Nano), hi.Format(time.RFC3339Nano))
	}
	want := ""
	if n := len(a.Checkpoints); n > 0 {
		want = a.Checkpoints[n-1].KeyID
	}
	if m.HubKeyID != want {
		add(0, "manifest hub key id %q, newest checkpoint key id %q", m.HubKeyID, want)
	}
}

// verifyCheckpoints checks every checkpoint and returns the highest seq
// covered by a sound one (0 if none).
func verifyCheckpoints(a *Archive, add func(int64, string, ...any)) int64 {
	bySeq := make(map[int64]*store.AuditEntry, len(a.Entries))
	for i := range a.Entries {
		if _, dup := bySeq[a.Entries[i].Seq]; !dup {
			bySeq[a.Entries[i].Seq] = &a.Entries[i]
		}
	}
	hub := a.Certs[HubParticipant]
	var anchored, prevSeq int64
	for i, cp := range a.Checkpoints {
		if i > 0 && cp.Seq <= prevSeq {
			add(cp.Seq, "checkpoint out of order or duplicated (after checkpoint at seq %d)", prevSeq)
		}
		prevSeq = cp.Seq
		ok := true
		e := bySeq[cp.Seq]
		switch {
		case cp.Seq < a.Manifest.FromSeq || cp.Seq > a.Manifest.ToSeq:
			add(cp.Seq, "checkpoint outside the archive's range %d..%d", a.Manifest.FromSeq, a.Manifest.ToSeq)
			ok = false
		case e == nil:
			add(cp.Seq, "checkpointed entry missing")
			ok = false
		case !bytes.Equal(e.Hash, cp.Hash):
			add(cp.Seq, "hash %s differs from checkpointed hash %s (entry or checkpoint modified)", short(e.Hash), short(cp.Hash))
			ok = false
		}
		if problem := checkpointSignature(cp, hub); problem != "" {
			add(cp.Seq, "checkpoint %s", problem)
			ok = false
		}
		if ok && cp.Seq > anchored {
			anchored = cp.Seq
		}
	}
	return anchored
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
