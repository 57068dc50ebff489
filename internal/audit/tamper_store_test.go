package audit_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/jackc/pgx/v5"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/message"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/postgres"
	"github.com/gatehub/gatehub/internal/store/sqlite"
	"github.com/gatehub/gatehub/internal/store/storetest"
)

// These tests tamper with the audit log the way someone with database
// access would — SQL straight into the table, bypassing the store — and
// check that both the live chain check and an exported archive name the
// first entry that can no longer be trusted.

var tamperT0 = time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)

// rawDB is write access to a store's database behind its back. Queries use
// $1-style placeholders; timeArg encodes a time the way the backend keeps
// the audit_log.time column.
type rawDB interface {
	exec(t *testing.T, query string, args ...any)
	timeArg(time.Time) any
}

type sqliteDB struct{ db *sql.DB }

var placeholder = regexp.MustCompile(`\$[0-9]+`)

func (d sqliteDB) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	// Arguments are always passed in placeholder order, so positional ?
	// binds them the same way.
	if _, err := d.db.Exec(placeholder.ReplaceAllString(q, "?"), args...); err != nil {
		t.Fatalf("sqlite tamper %q: %v", q, err)
	}
}

// timeArg: the SQLite store keeps times as Unix microseconds.
func (sqliteDB) timeArg(tm time.Time) any { return tm.UnixMicro() }

type postgresDB struct{ conn *pgx.Conn }

func (d postgresDB) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := d.conn.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("postgres tamper %q: %v", q, err)
	}
}

func (postgresDB) timeArg(tm time.Time) any { return tm }

type backend struct {
	name string
	open func(t *testing.T) (store.Store, rawDB)
}

var backends = []backend{
	{"sqlite", func(t *testing.T) (store.Store, rawDB) {
		path := filepath.Join(t.TempDir(), "gatehub.db")
		st, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		// A second connection to the same file, as a person with file
		// access would open it; the "sqlite" driver is registered by the
		// store package.
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return st, sqliteDB{db}
	}},
	{"postgres", func(t *testing.T) (store.Store, rawDB) {
		dsn := storetest.PostgresDSN(t)
		st, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close(context.Background()) })
		return st, postgresDB{conn}
	}},
}

// keys are generated once: RSA generation dominates the test's run time.
type tamperKeys struct {
	hub, customs *pki.Identity
	hubSigner    *sign.Signer
	agencySigner *sign.Signer
}

func newTamperKeys(t *testing.T) *tamperKeys {
	t.Helper()
	from, to := tamperT0.Add(-time.Hour), tamperT0.AddDate(1, 0, 0)
	hubID, err := pki.Generate(audit.HubParticipant, pki.RSA2048, from, to)
	if err != nil {
		t.Fatal(err)
	}
	customsID, err := pki.Generate("customs", pki.ECDSAP256, from, to)
	if err != nil {
		t.Fatal(err)
	}
	k := &tamperKeys{hub: hubID, customs: customsID}
	if k.hubSigner, err = sign.NewSigner(hubID); err != nil {
		t.Fatal(err)
	}
	if k.agencySigner, err = sign.NewSigner(customsID); err != nil {
		t.Fatal(err)
	}
	return k
}

func (k *tamperKeys) certs() map[string][]*x509.Certificate {
	return map[string][]*x509.Certificate{audit.HubParticipant: {k.hub.Cert}, "customs": {k.customs.Cert}}
}

func (k *tamperKeys) xmlVerifier() audit.XMLVerifier {
	ts := pki.NewTrustStore()
	for p, cs := range k.certs() {
		for _, c := range cs {
			ts.Add(p, c, time.Time{}, time.Time{})
		}
	}
	v := sign.NewVerifier(ts)
	return func(participant string, xml []byte, at time.Time) error {
		_, err := v.Verify(participant, xml, at)
		return err
	}
}

func signedXML(t *testing.T, s *sign.Signer, root, id string) []byte {
	t.Helper()
	doc := etree.NewDocument()
	r := doc.CreateElement(root)
	r.CreateAttr("xmlns", "urn:gatehub:test")
	r.CreateElement("MessageID").SetText(id)
	out, err := s.Sign(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Layout of the chain populate writes: per declaration six entries, the
// message.outbound of the first declaration at seq 3, checkpoints at 9 and
// at the head.
const (
	perDeclaration = 6
	declarations   = 3
	headSeq        = perDeclaration * declarations
	midCheckpoint  = 9
)

// populate appends a hub-like history through audit.Append — accepted
// declaration, how its message was built, the signed message, a delivery
// attempt, the agency's signed ACK, the decision — and signs checkpoints.
func populate(t *testing.T, st store.Store, k *tamperKeys) {
	t.Helper()
	ctx := context.Background()
	cp := audit.NewCheckpointer(k.hub.Key, pki.Fingerprint(k.hub.Cert))
	at := tamperT0
	for i := 1; i <= declarations; i++ {
		decl, msg, plate := fmt.Sprintf("D%d", i), fmt.Sprintf("M%d", i), fmt.Sprintf("12C-%05d", i)
		js := func(v any) []byte { b, _ := json.Marshal(v); return b }
		// The signed message and ACK are in their rows, as the hub keeps
		// them; their audit entries refer to those rows.
		body, raw := signedXML(t, k.hubSigner, "CustomsSubmit", msg), signedXML(t, k.agencySigner, "CustomsAck", "A-"+msg)
		if err := st.WithTx(ctx, func(tx store.Tx) error {
			if err := tx.InsertDeclaration(ctx, &store.Declaration{ID: decl, Version: 1, PlateVN: plate, Status: "active", Body: []byte(`{}`)}); err != nil {
				return err
			}
			if err := tx.InsertMessage(ctx, &store.Message{ID: msg, DeclarationID: decl, Version: 1, Agency: "customs",
				Kind: "submit", Body: body, State: message.Acked}); err != nil {
				return err
			}
			return tx.InsertAck(ctx, &store.Ack{MessageID: msg, Agency: "customs", AckID: "A-" + msg, Status: "ACK", Raw: raw})
		}); err != nil {
			t.Fatal(err)
		}
		entries := []store.AuditEntry{
			{Kind: audit.KindDeclarationAccepted, Actor: "trader:0101234567", DeclarationID: decl, Plate: plate,
				Payload: js(map[string]any{"gate": "HUUNGHI", "vehicle": map[string]string{"plateVN": plate}})},
			{Kind: audit.KindMessageBuilt, Actor: "hub", DeclarationID: decl, MessageID: msg, Agency: "customs", Plate: plate,
				Payload: js(map[string]any{"agency": "customs", "kind": "submit", "declarationVersion": 1})},
			{Kind: audit.KindMessageOutbound, Actor: "hub", DeclarationID: decl, MessageID: msg, Agency: "customs", Plate: plate,
				Payload: body, PayloadOf: store.PayloadMessage},
			{Kind: audit.KindDeliveryAttempt, Actor: "hub", DeclarationID: decl, MessageID: msg, Agency: "customs", Plate: plate,
				Payload: js(map[string]any{"attempt": 1, "outcome": "delivered", "status": 200, "state": "sent"})},
			{Kind: audit.KindAckInbound, Actor: "customs", DeclarationID: decl, MessageID: msg, Agency: "customs", Plate: plate,
				Payload: raw, PayloadOf: store.PayloadAck},
			{Kind: audit.KindDecision, Actor: "hub", DeclarationID: decl, Plate: plate,
				Payload: js(map[string]any{"version": 1, "decision": map[string]string{"status": "CLEARED"}})},
		}
		for _, e := range entries {
			at = at.Add(time.Second)
			e.Time = at
			if err := st.WithTx(ctx, func(tx store.Tx) error { return audit.Append(ctx, tx, &e) }); err != nil {
				t.Fatal(err)
			}
			if e.Seq == midCheckpoint || e.Seq == headSeq {
				err := st.WithTx(ctx, func(tx store.Tx) error {
					_, err := cp.Checkpoint(ctx, tx, at)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func listAll(t *testing.T, st store.Store) []store.AuditEntry {
	t.Helper()
	var out []store.AuditEntry
	err := st.WithTx(context.Background(), func(tx store.Tx) error {
		var err error
		out, err = tx.ListAudit(context.Background(), store.AuditFilter{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// recompute rewrites prev_hash and hash of every entry from seq on, as an
// attacker without the hub key but with write access could.
func recompute(t *testing.T, db rawDB, entries []store.AuditEntry, from int64) {
	t.Helper()
	prev := entries[from-2].Hash
	for i := from - 1; i < int64(len(entries)); i++ {
		e := entries[i]
		h := audit.EntryHash(prev, &e)
		db.exec(t, `UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE seq = $3`, prev, h, e.Seq)
		prev = h
	}
}

// TestTamperInDatabaseDetected: every kind of direct change to the table is
// found by VerifyChain over what the store returns and by verifying an
// exported archive, at the first entry it affects.
func TestTamperInDatabaseDetected(t *testing.T) {
	const k = 3 // the first message.outbound: signed XML, so payload changes also break a signature
	tests := []struct {
		name   string
		tamper func(t *testing.T, db rawDB, entries []store.AuditEntry)
		// chainSeq: first seq VerifyChain reports; 0 when the chain alone
		// cannot tell (hashes recomputed).
		chainSeq int64
		// archiveSeq: first entry-level problem of the archive; 0 when none.
		archiveSeq int64
		note       string // expected in the archive report's notes
	}{
		{
			name: "payload",
			tamper: func(t *testing.T, db rawDB, e []store.AuditEntry) {
				db.exec(t, `UPDATE audit_log SET payload = $1 WHERE seq = $2`,
					bytes.Replace(e[k-1].Payload, []byte("M1"), []byte("M9"), 1), k)
			},
			chainSeq: k, archiveSeq: k,
		},
		{
			name: "kind",
			tamper: func(t *testing.T, db rawDB, _ []store.AuditEntry) {
				db.exec(t, `UPDATE audit_log SET kind = $1 WHERE seq = $2`, audit.KindMessageWithdrawn, k)
			},
			chainSeq: k, archiveSeq: k,
		},
		{
			name: "time",
			tamper: func(t *testing.T, db rawDB, e []store.AuditEntry) {
				db.exec(t, `UPDATE audit_log SET time = $1 WHERE seq = $2`, db.timeArg(e[k-1].Time.Add(-time.Hour)), k)
			},
			chainSeq: k, archiveSeq: k,
		},
		{
			name: "declaration id",
			tamper: func(t *testing.T, db rawDB, _ []store.AuditEntry) {
				db.exec(t, `UPDATE audit_log SET declaration_id = $1 WHERE seq = $2`, "D2", k)
			},
			chainSeq: k, archiveSeq: k,
		},
		{
			name: "agency",
			tamper: func(t *testing.T, db rawDB, _ []store.AuditEntry) {
				db.exec(t, `UPDATE audit_log SET agency = $1 WHERE seq = $2`, "guangxi", k)
			},
			chainSeq: k, archiveSeq: k,
		},
		{
			name: "plate",
			tamper: func(t *testing.T, db rawDB, _ []store.AuditEntry) {
				db.exec(t, `UPDATE audit_log SET plate = $1 WHERE seq = $2`, "12C-99999", k)
			},
			chainSeq: k, archiveSeq: k,
		},
		{
			name: "prev_hash",
			tamper: func(t *testing.T, db rawDB, e []store.AuditEntry) {
				db.exec(t, `UPDATE audit_log SET prev_hash = $1 WHERE seq = $2`, e[k-1].Hash, k)
			},
			chainSeq: k, archiveSeq: k,
		},
		{
			name: "hash",
			tamper: func(t *testing.T, db rawDB, e []store.AuditEntry) {
				db.exec(t, `UPDATE audit_log SET hash = $1 WHERE seq = $2`, e[k].Hash, k)
			},
			chainSeq: k, archiveSeq: k,
		},
		{
			name: "row deleted",
			tamper: func(t *testing.T, db rawDB, _ []store.AuditEntry) {
				db.exec(t, `DELETE FROM audit_log WHERE seq = $1`, k)
			},
			chainSeq: k, archiveSeq: k,
		},
		{
			name: "two rows' seq swapped",
			tamper: func(t *testing.T, db rawDB, _ []store.AuditEntry) {
				db.exec(t, `UPDATE audit_log SET seq = $1 WHERE seq = $2`, -1, k)
				db.exec(t, `UPDATE audit_log SET seq = $1 WHERE seq = $2`, k, 12)
				db.exec(t, `UPDATE audit_log SET seq = $1 WHERE seq = $2`, 12, -1)
			},
			chainSeq: k, archiveSeq: k,
		},
		{
			// The forger shifts later rows up and gives the forged row a
			// perfect link and hash; the displaced original is the first
			// entry that no longer fits.
			name: "forged row inserted mid-chain with a recomputed hash",
			tamper: func(t *testing.T, db rawDB, e []store.AuditEntry) {
				for s := int64(headSeq); s >= k; s-- {
					db.exec(t, `UPDATE audit_log SET seq = $1 WHERE seq = $2`, s+1, s)
				}
				forged := store.AuditEntry{Seq: k, Time: e[k-2].Time, Kind: audit.KindDecision, Actor: "hub",
					DeclarationID: "D1", Plate: "12C-00001", Payload: []byte(`{"version":1,"decision":{"status":"CLEARED"}}`),
					PrevHash: e[k-2].Hash}
				forged.Hash = audit.EntryHash(forged.PrevHash, &forged)
				insert(t, db, forged)
			},
			chainSeq: k + 1, archiveSeq: k + 1,
		},
		{
			name: "forged row appended without the right hash",
			tamper: func(t *testing.T, db rawDB, e []store.AuditEntry) {
				forged := e[headSeq-1]
				forged.Seq, forged.PrevHash = headSeq+1, e[headSeq-1].Hash
				insert(t, db, forged) // hash copied from the head: not its own
			},
			chainSeq: headSeq + 1, archiveSeq: headSeq + 1,
		},
		{
			// Past the last checkpoint, a forger who recomputes the hash
			// leaves a chain that verifies; the archive says those entries
			// are vouched for by nothing but the next archive's link.
			name: "forged row appended with a recomputed hash, after the last checkpoint",
			tamper: func(t *testing.T, db rawDB, e []store.AuditEntry) {
				forged := e[headSeq-1]
				forged.Seq, forged.PrevHash = headSeq+1, e[headSeq-1].Hash
				forged.Hash = audit.EntryHash(forged.PrevHash, &forged)
				insert(t, db, forged)
			},
			note: fmt.Sprintf("1 entries after seq %d are not covered by a checkpoint", headSeq),
		},
		{
			// A decision rewritten with every later hash recomputed passes
			// the chain check; the signed checkpoint after it does not.
			name: "decision rewritten with every later hash recomputed",
			tamper: func(t *testing.T, db rawDB, e []store.AuditEntry) {
				const seq = perDeclaration // D1's decision
				changed := e[seq-1]
				changed.Payload = []byte(`{"version":1,"decision":{"status":"REJECTED"}}`)
				e[seq-1] = changed
				db.exec(t, `UPDATE audit_log SET payload = $1 WHERE seq = $2`, changed.Payload, seq)
				recompute(t, db, e, seq)
			},
			archiveSeq: midCheckpoint,
		},
	}
	// The signed bytes are kept once, in messages.body and acks.raw, and
	// the entries refer to them: changing those rows is changing the log.
	tests = append(tests, []struct {
		name       string
		tamper     func(t *testing.T, db rawDB, entries []store.AuditEntry)
		chainSeq   int64
		archiveSeq int64
		note       string
	}{
		{
			name: "message body the outbound entry refers to",
			tamper: func(t *testing.T, db rawDB, e []store.AuditEntry) {
				db.exec(t, `UPDATE messages SET body = $1 WHERE id = $2`,
					bytes.Replace(e[k-1].Payload, []byte("M1"), []byte("M9"), 1), "M1")
			},
			chainSeq: k, archiveSeq: k,
		},
		{
			name: "ACK bytes the inbound entry refers to",
			tamper: func(t *testing.T, db rawDB, e []store.AuditEntry) {
				db.exec(t, `UPDATE acks SET raw = $1 WHERE message_id = $2`,
					bytes.Replace(e[k+1].Payload, []byte("A-M1"), []byte("A-M9"), 1), "M1")
			},
			chainSeq: k + 2, archiveSeq: k + 2,
		},
		{
			name: "reference dropped",
			tamper: func(t *testing.T, db rawDB, _ []store.AuditEntry) {
				db.exec(t, `UPDATE audit_log SET payload_ref = '' WHERE seq = $1`, k)
			},
			chainSeq: k, archiveSeq: k,
		},
		{
			name: "ACK row deleted",
			tamper: func(t *testing.T, db rawDB, _ []store.AuditEntry) {
				db.exec(t, `DELETE FROM acks WHERE message_id = $1`, "M1")
			},
			chainSeq: k + 2, archiveSeq: k + 2,
		},
	}...)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			keys := newTamperKeys(t)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					st, db := b.open(t)
					populate(t, st, keys)
					clean := listAll(t, st)
					if len(clean) != headSeq {
						t.Fatalf("populated %d entries, want %d", len(clean), headSeq)
					}
					for _, e := range clean {
						if want := map[string]store.PayloadRef{audit.KindMessageOutbound: store.PayloadMessage, audit.KindAckInbound: store.PayloadAck}[e.Kind]; e.PayloadOf != want {
							t.Fatalf("entry %d (%s) stored as %q, want %q", e.Seq, e.Kind, e.PayloadOf, want)
						}
					}
					if rep := exportAndVerify(t, st, keys); !rep.OK() || len(rep.Notes) > 0 {
						t.Fatalf("untampered log does not verify cleanly: %+v %v", rep.Problems, rep.Notes)
					}
					tt.tamper(t, db, clean)

					err := audit.VerifyChain(nil, 1, listAll(t, st))
					var p *audit.Problem
					switch {
					case tt.chainSeq == 0 && err != nil:
						t.Errorf("VerifyChain: %v, want no finding (hashes were recomputed)", err)
					case tt.chainSeq != 0 && (!errors.As(err, &p) || p.Seq != tt.chainSeq):
						t.Errorf("VerifyChain: %v, want a problem at seq %d", err, tt.chainSeq)
					}

					rep := exportAndVerify(t, st, keys)
					got := firstEntryProblem(rep)
					if got != tt.archiveSeq {
						t.Errorf("archive: first problem at seq %d, want %d; problems %+v", got, tt.archiveSeq, rep.Problems)
					}
					if tt.note != "" && !strings.Contains(strings.Join(rep.Notes, "\n"), tt.note) {
						t.Errorf("archive notes %q, want one containing %q", rep.Notes, tt.note)
					}
				})
			}
		})
	}
}

func insert(t *testing.T, db rawDB, e store.AuditEntry) {
	t.Helper()
	db.exec(t, `INSERT INTO audit_log (seq, time, kind, actor, declaration_id, message_id, agency, plate, payload, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		e.Seq, db.timeArg(e.Time), e.Kind, e.Actor, e.DeclarationID, e.MessageID, e.Agency, e.Plate, e.Payload, e.PrevHash, e.Hash)
}

func exportAndVerify(t *testing.T, st store.Store, k *tamperKeys) *audit.Report {
	t.Helper()
	var buf bytes.Buffer
	if _, err := audit.Export(context.Background(), st, store.AuditFilter{}, k.certs(), tamperT0.Add(time.Hour), &buf); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.VerifyArchive(&buf, k.xmlVerifier())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// firstEntryProblem returns the seq of the first problem tied to an entry,
// 0 when there is none.
func firstEntryProblem(rep *audit.Report) int64 {
	for _, p := range rep.Problems {
		if p.Seq != 0 {
			return p.Seq
		}
	}
	return 0
}
