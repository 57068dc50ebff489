package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/ids"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/sqlite"
)

// The shape of one declaration's round trip in the log, as measured on the
// embedded hub with its simulators: 22 entries, 8 of them XML signatures.
const (
	EntriesPerDeclaration    = 22
	SignaturesPerDeclaration = 8
)

// AuditLog is a synthetic log written by SyntheticAuditLog.
type AuditLog struct {
	DataDir      string // holds gatehub.db and trust/
	Declarations int
	Entries      int
	Signatures   int
	Took         time.Duration
	// Signed is one signed payload of each kind the log holds (four hub
	// messages, four agency ACKs), and Verifier trusts their signers: the
	// XML verifier bound is measured over them.
	Signed   []SignedPayload
	Verifier *sign.Verifier
	At       time.Time
}

// SignedPayload is one signed XML message and who signed it.
type SignedPayload struct {
	Participant string
	XML         []byte
}

// SyntheticAuditLog writes, quickly, a log in the hub's shape for decls
// declarations into dataDir/gatehub.db: real declarations, real agency
// messages signed by a real hub key (one per agency, reused: every
// verification still does all its work), and for each message a real ACK
// signed by its agency naming that message, so a replay reads and checks
// every ACK as it would a live hub's. dataDir/trust gets the certificates.
func SyntheticAuditLog(ctx context.Context, root, dataDir string, decls int) (*AuditLog, error) {
	start := time.Now()
	known, err := agencies.LoadDir(filepath.Join(root, "deploy/agencies"))
	if err != nil {
		return nil, err
	}
	gates, err := gate.LoadDir(filepath.Join(root, "deploy/gates"), known)
	if err != nil {
		return nil, err
	}
	maps, err := mapping.Load(filepath.Join(root, "mappings"))
	if err != nil {
		return nil, err
	}
	hubID, err := pki.Generate(hub.Participant, pki.RSA2048, certFrom, certUntil)
	if err != nil {
		return nil, err
	}
	hubSigner, err := sign.NewSigner(hubID)
	if err != nil {
		return nil, err
	}
	ts := pki.NewTrustStore()
	ts.Add(hub.Participant, hubID.Cert, time.Time{}, time.Time{})
	// Each agency signs under its own profile (the Guangxi single window:
	// SM2-SM3), and the hub signs that agency's messages under it too, as
	// the hub does: a log of the hub's shape verifies only that way.
	hubSigners := map[string]*sign.Signer{}
	agencySigners := map[string]*sign.Signer{}
	for _, a := range known.Strings() {
		profile, alg := app.Specs(known)[a].SignatureProfile(), pki.ECDSAP256
		hubSigners[a] = hubSigner
		if profile.Name == sign.SM2Profile.Name {
			alg = pki.SM2
			hubSM2, err := pki.Generate(hub.Participant, pki.SM2, certFrom, certUntil)
			if err != nil {
				return nil, err
			}
			if hubSigners[a], err = sign.NewProfileSigner(hubSM2, profile); err != nil {
				return nil, err
			}
			ts.Add(hub.Participant, hubSM2.Cert, time.Time{}, time.Time{})
		}
		id, err := pki.Generate(a, alg, certFrom, certUntil)
		if err != nil {
			return nil, err
		}
		if agencySigners[a], err = sign.NewProfileSigner(id, profile); err != nil {
			return nil, err
		}
		ts.Add(a, id.Cert, time.Time{}, time.Time{})
	}
	if err := ts.Save(filepath.Join(dataDir, "trust")); err != nil {
		return nil, fmt.Errorf("save trust store: %w", err)
	}

	body, err := SampleDeclaration(root, 0)
	if err != nil {
		return nil, err
	}
	d, err := declaration.Decode(bytes.NewReader(body), declaration.Options{Gates: gates, Now: clockBase})
	if err != nil {
		return nil, err
	}
	g, _ := gates.Gate(d.Gate)
	// The agencies the gate policy requires for the sample declaration.
	agencyList := g.RequiredAgencies(d.Direction, d.CargoKind, d.HSCodes()...)
	log := &AuditLog{DataDir: dataDir, Declarations: decls, Verifier: sign.NewVerifier(ts, app.AuditorProfiles(known)...), At: clockBase}
	signedMsg := map[string][]byte{}
	for _, a := range agencyList {
		env := mapping.Envelope{MessageID: ids.Message(), Kind: message.Submit, Sender: hub.Participant, Receiver: a,
			DeclarationID: ids.Declaration(clockBase), Version: 1, CreatedAt: clockBase}
		doc, _, err := maps.Build(a, message.Submit, d, env, g.Context())
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", a, err)
		}
		if signedMsg[a], err = hubSigners[a].Sign(doc); err != nil {
			return nil, err
		}
		log.Signed = append(log.Signed, SignedPayload{hub.Participant, signedMsg[a]})
	}

	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "gatehub.db"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ck := audit.NewCheckpointer(hubID.Key, pki.Fingerprint(hubID.Cert))
	const perTx = 25
	var es []*store.AuditEntry
	t := clockBase
	next := func() time.Time { t = t.Add(time.Millisecond); return t }
	for i := 0; i < decls; i++ {
		body, err := SampleDeclaration(root, i)
		if err != nil {
			return nil, err
		}
		declID := ids.Declaration(t)
		plate := Plate(i)
		add := func(e store.AuditEntry) {
			e.Time, e.DeclarationID, e.Plate = next(), declID, plate
			es = append(es, &e)
		}
		add(store.AuditEntry{Kind: audit.KindDeclarationAccepted, Actor: "trader:0101234567", Payload: body})
		msgIDs := map[string]string{}
		for _, a := range agencyList {
			msgIDs[a] = ids.Message()
			rec, _ := json.Marshal(audit.MessageBuilt{Agency: a, Kind: message.Submit, DeclarationVersion: 1,
				Sender: hub.Participant, Receiver: a, CreatedAt: t, MappingVersion: "1.0.0", Gate: g.Context()})
			add(store.AuditEntry{Kind: audit.KindMessageBuilt, Actor: hub.Participant, MessageID: msgIDs[a], Agency: a, Payload: rec})
			add(store.AuditEntry{Kind: audit.KindMessageOutbound, Actor: hub.Participant, MessageID: msgIDs[a], Agency: a, Payload: signedMsg[a]})
		}
		for _, a := range agencyList {
			add(store.AuditEntry{Kind: audit.KindDeliveryAttempt, Actor: "dispatcher", MessageID: msgIDs[a], Agency: a,
				Payload: []byte(`{"attempt":1,"state":"pending","error":"HTTP 503"}`)})
			add(store.AuditEntry{Kind: audit.KindDeliveryAttempt, Actor: "dispatcher", MessageID: msgIDs[a], Agency: a,
				Payload: []byte(`{"attempt":2,"state":"sent"}`)})
		}
		for _, a := range agencyList {
			now := next()
			ackID := "ACK-" + msgIDs[a]
			doc, _, err := maps.BuildAck(a, mapping.AckFields{AckID: ackID, RefMessageID: msgIDs[a], Status: "ACK", IssuedAt: now},
				mapping.Envelope{MessageID: ackID, Kind: message.Ack, Sender: a, Receiver: hub.Participant, DeclarationID: declID, Version: 1, CreatedAt: now})
			if err != nil {
				return nil, fmt.Errorf("build %s ack: %w", a, err)
			}
			signed, err := agencySigners[a].Sign(doc)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				log.Signed = append(log.Signed, SignedPayload{a, signed})
			}
			add(store.AuditEntry{Kind: audit.KindAckInbound, Actor: a, MessageID: msgIDs[a], Agency: a, Payload: signed})
		}
		add(store.AuditEntry{Kind: audit.KindDecision, Actor: hub.Participant,
			Payload: []byte(`{"version":1,"decision":{"status":"CLEARED","agencies":[]}}`)})
		if (i+1)%perTx == 0 || i == decls-1 {
			batch := es
			es = nil
			if err := st.WithTx(ctx, func(tx store.Tx) error {
				if err := audit.AppendAll(ctx, tx, batch); err != nil {
					return err
				}
				// A checkpoint now and then, as the hub's timer makes them.
				if (i+1)%(40*perTx) == 0 || i == decls-1 {
					_, err := ck.Checkpoint(ctx, tx, t)
					return err
				}
				return nil
			}); err != nil {
				return nil, err
			}
		}
	}
	log.Entries = decls * EntriesPerDeclaration
	log.Signatures = decls * SignaturesPerDeclaration
	log.Took = time.Since(start)
	return log, nil
}

// VerifierBound measures the XML signature verifier alone, on one core,
// over the log's mix of signed payloads (four hub messages, four agency
// ACKs) for about d of CPU, and returns verifications per CPU-second of
// this (otherwise idle) process: the one-core rate, whatever else shares
// the machine.
func (l *AuditLog) VerifierBound(d time.Duration) (float64, error) {
	cpu0 := ProcessCPU()
	n := 0
	for ProcessCPU()-cpu0 < d || n < len(l.Signed) {
		for range len(l.Signed) {
			p := l.Signed[n%len(l.Signed)]
			if _, err := l.Verifier.Verify(p.Participant, p.XML, l.At); err != nil {
				return 0, err
			}
			n++
		}
	}
	return float64(n) / (ProcessCPU() - cpu0).Seconds(), nil
}

// ToolRun is one run of a gatehubctl command as a separate process.
type ToolRun struct {
	Args    []string
	Output  []byte // stdout (the -o json summary)
	Wall    time.Duration
	CPU     time.Duration
	MaxRSS  int64 // bytes
	Summary map[string]any
}

// BuildCtl builds gatehubctl into dir and returns its path.
func BuildCtl(root, dir string) (string, error) {
	bin := filepath.Join(dir, "gatehubctl")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/gatehubctl")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build gatehubctl: %v\n%s", err, out)
	}
	return bin, nil
}

// RunCtl runs the gatehubctl binary with args in dir and measures it: the
// process's own maximum resident set and CPU, from the kernel.
func RunCtl(bin, dir string, args ...string) (*ToolRun, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	if os.Getenv("GATEHUB_AGENCIES_DIR") == "" {
		// The tools run in a scratch directory; the agency files (the
		// signature profiles, which an archive does not carry) are the
		// repository's.
		if root, err := RepoRoot(); err == nil {
			cmd.Env = append(cmd.Env, "GATEHUB_AGENCIES_DIR="+filepath.Join(root, "deploy", "agencies"))
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := &ToolRun{Args: args, Output: stdout.Bytes(), Wall: time.Since(start)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		r.MaxRSS = ru.Maxrss * 1024 // KiB on Linux
		r.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if err != nil {
		return r, fmt.Errorf("gatehubctl %v: %v\n%s%s", args, err, stdout.Bytes(), stderr.Bytes())
	}
	if json.Unmarshal(stdout.Bytes(), &r.Summary) != nil {
		r.Summary = nil
	}
	// Linux carries ru_maxrss across fork and exec: the child's figure is
	// at least this process's. The tools report their own VmHWM.
	if v, ok := r.Summary["max_rss_bytes"].(float64); ok && v > 0 {
		r.MaxRSS = int64(v)
	}
	return r, nil
}

// AuditRow is the audit tools measured on one synthetic log.
type AuditRow struct {
	Declarations, Entries, Signatures int
	Export, Verify, Replay            *ToolRun
	// Entries per second of each tool, from wall time.
	ExportRate, VerifyRate, ReplayRate float64
	SignaturesPerSecond                float64 // of verify
	// VerifyCPURatio is verify's signatures per CPU-second as a share of
	// the verifier's single-core rate: how close each busy core comes to
	// the bound, whatever else shares the machine.
	VerifyCPURatio float64
	// VerifierBound is the XML verifier's single-core rate × cores,
	// measured right before verify; VerifyRatio is verify's signatures/s
	// as a share of it.
	VerifierBound, VerifyRatio float64
	Cores                      int
	StoreBytesPerDecl          float64 // the embedded store's file (audit log only) per declaration
	ArchiveBytesPerDecl        float64
	Archives                   int
}

// MeasureAudit generates a log of decls declarations in a temporary
// directory and runs export (a chain of archives), verify (every core) and
// replay (--no-compare) on it as separate processes.
func MeasureAudit(ctx context.Context, root, bin string, decls int, boundFor time.Duration) (*AuditRow, error) {
	dir, err := os.MkdirTemp("", "gatehub-audit-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		return nil, err
	}
	log, err := SyntheticAuditLog(ctx, root, data, decls)
	if err != nil {
		return nil, err
	}
	row := &AuditRow{Declarations: decls, Entries: log.Entries, Signatures: log.Signatures, Cores: runtime.NumCPU()}
	if fi, err := os.Stat(filepath.Join(data, "gatehub.db")); err == nil {
		row.StoreBytesPerDecl = float64(fi.Size()) / float64(decls)
	}
	chain := filepath.Join(dir, "chain")
	common := []string{"--data-dir", data, "--database-url", ""}
	if row.Export, err = RunCtl(bin, dir, append([]string{"audit", "export", "--trust", filepath.Join(data, "trust"), "--out-dir", chain, "--max-size", "64MiB", "-o", "json"}, common...)...); err != nil {
		return nil, err
	}
	var archBytes int64
	des, _ := os.ReadDir(chain)
	for _, de := range des {
		if fi, err := de.Info(); err == nil {
			archBytes += fi.Size()
			row.Archives++
		}
	}
	row.ArchiveBytesPerDecl = float64(archBytes) / float64(decls)
	one, err := log.VerifierBound(boundFor)
	if err != nil {
		return nil, err
	}
	row.VerifierBound = one * float64(row.Cores)
	if row.Verify, err = RunCtl(bin, dir, "audit", "verify", "-o", "json", chain); err != nil {
		return nil, err
	}
	if row.Replay, err = RunCtl(bin, dir, append([]string{"audit", "replay", "--no-compare", "--mappings", filepath.Join(root, "mappings"), "-o", "json", chain}, common...)...); err != nil {
		return nil, err
	}
	n := float64(log.Entries)
	row.ExportRate = n / row.Export.Wall.Seconds()
	row.VerifyRate = n / row.Verify.Wall.Seconds()
	row.ReplayRate = n / row.Replay.Wall.Seconds()
	row.SignaturesPerSecond = float64(log.Signatures) / row.Verify.Wall.Seconds()
	if row.VerifierBound > 0 {
		row.VerifyRatio = row.SignaturesPerSecond / row.VerifierBound
	}
	if one > 0 && row.Verify.CPU > 0 {
		row.VerifyCPURatio = float64(log.Signatures) / row.Verify.CPU.Seconds() / one
	}
	return row, nil
}

// StorageRow is where a round trip's bytes go in the embedded store.
type StorageRow struct {
	Declarations                            int
	FileBytesPerDecl                        float64
	MessageBodyPerDecl, AckRawPerDecl       float64 // signed bytes in messages.body, acks.raw
	AuditPayloadPerDecl, AuditSignedPerDecl float64 // all audit payloads kept in audit_log; those of message.outbound and ack.inbound (0 once they refer to their rows)
}

// MeasureStorage reads, from a hub's embedded store file (after Close),
// the bytes per declaration in the file and in the columns that hold the
// same signed bytes twice.
func MeasureStorage(dbPath string, decls int) (*StorageRow, error) {
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	row := &StorageRow{Declarations: decls}
	q := func(query string) (float64, error) {
		var v sql.NullFloat64
		if err := db.QueryRow(query).Scan(&v); err != nil {
			return 0, fmt.Errorf("%s: %w", query, err)
		}
		return v.Float64 / float64(decls), nil
	}
	for _, c := range []struct {
		dst   *float64
		query string
	}{
		{&row.FileBytesPerDecl, `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`},
		{&row.MessageBodyPerDecl, `SELECT SUM(LENGTH(body)) FROM messages`},
		{&row.AckRawPerDecl, `SELECT SUM(LENGTH(raw)) FROM acks`},
		{&row.AuditPayloadPerDecl, `SELECT SUM(LENGTH(payload)) FROM audit_log`},
		{&row.AuditSignedPerDecl, `SELECT SUM(LENGTH(payload)) FROM audit_log WHERE kind IN ('message.outbound', 'ack.inbound')`},
	} {
		if *c.dst, err = q(c.query); err != nil {
			return nil, err
		}
	}
	return row, nil
}
