// Package store persists declarations, outbound messages (the outbox), ACKs,
// clearance decisions, idempotency keys and the audit log. Two
// implementations (embedded SQLite and Postgres) satisfy one contract test;
// every state change happens inside WithTx so nothing is half-written.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/message"
	"time"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when an insert collides with a unique key.
var ErrConflict = errors.New("conflict")

// ErrUnavailable means the store could not be reached or cannot serve right
// now (connection refused or lost, the server shutting down, the database
// file locked or unreadable): the same request may succeed later, unchanged.
// The HTTP layer answers it with 503 and Retry-After.
var ErrUnavailable = errors.New("store unavailable")

// ErrNoSpace means the store's disk is full, or its free space is below
// the reserve kept for settling what was already accepted. The HTTP layer
// answers it with 507 and Retry-After.
var ErrNoSpace = errors.New("store out of disk space")

// Unavailable marks err as ErrUnavailable, keeping err in the chain.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// NoSpace marks err as ErrNoSpace, keeping err in the chain.
func NoSpace(err error) error {
	if err == nil || errors.Is(err, ErrNoSpace) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNoSpace, err)
}

// Declaration is one stored version of a declaration.
type Declaration struct {
	ID             string
	Version        int
	TraderTaxCode  string
	Gate           string
	Lane           string
	PlateVN        string
	PlateCN        string
	Status         string // active | cancelled
	Body           []byte // the declaration JSON of this version
	IdempotencyKey string
	CreatedAt      time.Time
}

// Message is one outbound agency message and its delivery state: the
// outbox row. Body is the exact signed bytes; a retry re-sends them.
type Message struct {
	ID             string
	DeclarationID  string
	Version        int
	Agency         string
	Kind           message.Kind
	PreviousID     string // message this one replaces, for amend/cancel
	MappingVersion string
	SchemaVersion  string
	ContentHash    string // SHA-256 hex of the canonical unsigned XML
	Body           []byte
	State          message.State // changed only through message.Transition
	Attempts       int
	NextAttemptAt  time.Time
	LastError      string
	LeaseOwner     string
	LeaseUntil     time.Time // zero when not claimed
	SentAt         time.Time // zero until delivered
	AckDeadline    time.Time // zero until delivered
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// RequestID and TraceID are those of the API request that created the
	// message (empty for messages created by the hub itself). Every delivery
	// attempt, however late and on whichever instance, logs them and sends
	// them to the agency (X-Request-Id, traceparent), so one id follows a
	// truck from the trader's POST to the agency's logs.
	RequestID string
	TraceID   string // W3C trace-id, 32 lower-case hex digits
}

// Ack is an agency's signed answer to one message.
type Ack struct {
	MessageID  string
	Agency     string
	AckID      string // the agency's own id for its answer
	Status     string // ACK | NACK
	ReasonCode string
	ReasonText string
	Raw        []byte // exact signed bytes received
	ReceivedAt time.Time
}

// AgencyMessage is a message an agency sent on its own about a
// declaration (see internal/directive): a HOLD, RELEASE, REVOKE or
// CROSSING-CONFIRMED, verified and accepted. Stored once per message id,
// never updated.
type AgencyMessage struct {
	ID            string
	Agency        string
	Kind          string
	DeclarationID string
	Version       int // the declaration version the agency saw
	Checkpoint    string
	ReasonCode    string
	ReasonText    string
	Detail        []byte // JSON of the kind's other fields
	Raw           []byte // exact signed bytes received
	Answer        []byte // JSON of the hub's answer, given again to a resend
	ReceivedAt    time.Time
}

// Decision is the clearance decision for one declaration version.
type Decision struct {
	DeclarationID string
	Version       int
	Status        clearance.Status
	Detail        []byte // JSON of the reasons
	DecidedAt     time.Time
}

// Idempotency remembers a trader's Idempotency-Key and the declaration it
// created, so a retried POST returns the first result.
type Idempotency struct {
	Trader        string
	Key           string
	RequestHash   string
	DeclarationID string
	CreatedAt     time.Time
}

// AuditEntry is one record of the hash-chained audit log. Seq is assigned
// by AppendAudit (1, 2, 3 … without gaps).
type AuditEntry struct {
	Seq           int64
	Time          time.Time
	Kind          string
	Actor         string
	DeclarationID string
	MessageID     string
	Agency        string
	Plate         string
	Payload       []byte
	// PayloadOf names the row that holds the same bytes as Payload, so
	// the store keeps them once (see PayloadRef). AppendAudit stores the
	// payload by reference only when the named row's bytes equal it, and
	// inline otherwise; ListAudit always returns the bytes, and sets
	// PayloadOf on the entries it stored by reference. It is not part of
	// the entry's hash: where the bytes sit is the store's business.
	PayloadOf PayloadRef
	PrevHash  []byte
	Hash      []byte
}

// PayloadRef names where an audit payload's bytes are kept when they are
// those of another row. The signed messages and ACKs are the bulk of the
// log; the outbox and the views read them from messages and acks, so the
// log refers to those rows rather than hold a second copy. The audit log
// is still the canonical record: its hash covers the bytes wherever they
// sit, so a rewritten messages.body or acks.raw breaks the entry's hash
// exactly as a rewritten payload does, and export inlines them.
type PayloadRef string

const (
	PayloadInline  PayloadRef = ""        // the bytes are in the audit row
	PayloadMessage PayloadRef = "message" // messages.body of the entry's MessageID
	PayloadAck     PayloadRef = "ack"     // acks.raw of the ACK to the entry's MessageID
)

// AuditCheckpoint is a signed statement of the chain head at Seq.
type AuditCheckpoint struct {
	Seq       int64
	Hash      []byte
	Signature []byte // signature over the checkpoint's canonical bytes
	KeyID     string
	CreatedAt time.Time
}

// GateConfig is a gate file applied at run time. It overrides the shipped
// file of the same gate code on every instance and across restarts.
// Version counts the applications of that gate, starting at 1.
type GateConfig struct {
	Code      string
	YAML      []byte
	Version   int64
	AppliedBy string
	AppliedAt time.Time
}

// Crossing is the stored lifecycle of one declaration at its gate (see
// internal/crossing). Active is true while the crossing holds its plate at
// the gate: at most one active crossing per (Gate, Plate), enforced by a
// unique index, so two instances cannot both accept a second declaration.
type Crossing struct {
	DeclarationID string
	Gate          string
	Plate         string
	State         string
	Active        bool
	Detail        []byte // JSON: version, passages, reason
	UpdatedAt     time.Time
}

// LaneState is the current vehicle of one lane at one checkpoint and its
// fused readings (see internal/crossing). Vehicle numbers the lane's
// vehicles; Rev counts the row's writes, so a writer that read an older
// row cannot overwrite a newer one.
type LaneState struct {
	Gate       string
	Checkpoint string
	Lane       string
	Vehicle    int64
	State      []byte // JSON of the current vehicle; nil for a lane that has seen none
	Rev        int64
	UpdatedAt  time.Time
}

// Event is one durable live event (a lane's or a declaration's new state),
// written in the transaction that changed what it announces and published
// to the fan-out bus afterwards by a relay (see internal/eventrelay).
type Event struct {
	ID    int64  // assigned by AppendEvent; increases in append order
	Topic string // fan-out topic, e.g. "lane/HUUNGHI/EXP-1"
	Type  string // SSE event type, e.g. "decision"
	// Key names what the event is the state of within its topic (a
	// declaration id, a lane): LatestEvents keeps the newest event per key,
	// which is the topic's current state.
	Key         string
	Data        []byte
	CreatedAt   time.Time
	PublishedAt time.Time // zero until the relay published it
}

// MessageFilter selects messages for operator listings. Zero fields match all.
type MessageFilter struct {
	State         message.State
	Agency        string
	DeclarationID string
	OverdueAt     time.Time // non-zero: only Sent messages whose AckDeadline is before this
	Limit         int
}

// ClaimParams are ClaimDueFor's: lease up to Limit due messages of Agency
// ("" = every agency) to Owner until LeaseUntil, as of Now.
type ClaimParams struct {
	Agency     string
	Now        time.Time
	Limit      int
	Owner      string
	LeaseUntil time.Time
}

// AuditFilter selects audit entries. Zero fields match all.
type AuditFilter struct {
	FromSeq       int64
	ToSeq         int64
	From, To      time.Time
	Kind          string
	DeclarationID string
	MessageID     string
	Agency        string
	Plate         string
	Limit         int
}

// Store opens transactions. Implementations must be safe for concurrent use
// by several goroutines and, for Postgres, by several hub processes.
type Store interface {
	// WithTx runs fn in one transaction, committing if fn returns nil and
	// rolling back otherwise. fn may be retried on serialization failure,
	// so it must not have side effects outside the transaction.
	WithTx(ctx context.Context, fn func(Tx) error) error
	// WithReadTx runs fn, which only reads, in a transaction apart from the
	// writers where the store has one (the embedded store: parallel WAL
	// readers instead of a place in the single writer's queue); elsewhere
	// it is WithTx. A write fn attempts may fail.
	WithReadTx(ctx context.Context, fn func(Tx) error) error
	Ping(ctx context.Context) error
	Close() error
}

// Tx is the set of operations available inside one transaction.
type Tx interface {
	// AfterCommit registers fn to run once this transaction has committed,
	// in the goroutine of the WithTx call, before WithTx returns; fns run
	// in the order registered. A transaction that rolls back (fn failed,
	// the commit failed, or the store runs fn again after a serialization
	// failure) drops what it registered: effects of state a rollback
	// erased never happen. In a WithReadTx, fns run once fn returned nil.
	AfterCommit(fn func())
	InsertDeclaration(ctx context.Context, d *Declaration) error // ErrConflict on (ID, Version)
	LatestDeclaration(ctx context.Context, id string) (*Declaration, error)
	DeclarationVersion(ctx context.Context, id string, version int) (*Declaration, error)
	// DeclarationsByPlate returns the latest version of every declaration whose
	// VN or CN plate equals plate, newest first.
	DeclarationsByPlate(ctx context.Context, plate string, limit int) ([]Declaration, error)
	ListDeclarations(ctx context.Context, trader string, limit int) ([]Declaration, error) // trader "" = all; latest versions, newest first
	// DeclarationsAfter returns the latest version of up to limit
	// declarations whose id sorts after afterID ("" = from the first), by
	// ascending id and without their bodies (Body nil): a walk over every
	// declaration one page at a time, so a reader of a large store (audit
	// replay comparing states) holds one page, not the whole table.
	DeclarationsAfter(ctx context.Context, afterID string, limit int) ([]Declaration, error)
	UpdateDeclarationStatus(ctx context.Context, id string, status string) error

	GetIdempotency(ctx context.Context, trader, key string) (*Idempotency, error)
	InsertIdempotency(ctx context.Context, i *Idempotency) error // ErrConflict if (Trader, Key) exists

	InsertMessage(ctx context.Context, m *Message) error
	// GetMessage returns one message; no other transaction can change it
	// until this one ends, so reading it, deciding and UpdateMessage is safe
	// against concurrent writers (Postgres: FOR UPDATE).
	GetMessage(ctx context.Context, id string) (*Message, error)
	// MessagesForDeclaration lists all versions' messages by CreatedAt,
	// without their bytes (Body nil): the lists serve state and decisions;
	// GetMessage and ClaimDue give the bytes.
	MessagesForDeclaration(ctx context.Context, declarationID string) ([]Message, error)
	ListMessages(ctx context.Context, f MessageFilter) ([]Message, error)
	// ClaimDue leases up to limit Pending messages whose NextAttemptAt <= now
	// and whose lease is free or expired, setting LeaseOwner and LeaseUntil.
	// Concurrent callers (goroutines or processes) never receive the same
	// message while its lease holds (Postgres: FOR UPDATE SKIP LOCKED).
	ClaimDue(ctx context.Context, now time.Time, limit int, owner string, leaseUntil time.Time) ([]Message, error)
	// ClaimDueFor is ClaimDue restricted to one agency (p.Agency; "" = all),
	// so each agency's delivery lane claims only what it can send now and
	// one agency's backlog never takes another's turn.
	ClaimDueFor(ctx context.Context, p ClaimParams) ([]Message, error)
	// RescheduleAgency makes every Pending, unleased message of agency due
	// at now (their backoff cut short), for a bulk redrive after an
	// outage, and returns how many it moved.
	RescheduleAgency(ctx context.Context, agency string, now time.Time) (int, error)
	// UpdateMessage writes the mutable delivery fields (State, Attempts,
	// NextAttemptAt, LastError, LeaseOwner, LeaseUntil, SentAt, AckDeadline, UpdatedAt).
	UpdateMessage(ctx context.Context, m *Message) error
	// CountMessages returns how many messages each (agency, state) pair
	// holds; pairs with none are absent. It feeds the outbox depth gauge.
	CountMessages(ctx context.Context) (map[[2]string]int, error)
	// OldestPending returns, per agency, the CreatedAt of its oldest Pending
	// message; agencies with none are absent. It feeds the outbox age gauge.
	OldestPending(ctx context.Context) (map[string]time.Time, error)

	InsertAck(ctx context.Context, a *Ack) error // ErrConflict if the message already has an ACK
	GetAck(ctx context.Context, messageID string) (*Ack, error)
	// AcksForDeclaration returns the ACKs stored for the declaration's
	// messages, by message id, without their XML (Raw nil).
	AcksForDeclaration(ctx context.Context, declarationID string) (map[string]Ack, error)

	// InsertAgencyMessage stores an accepted agency message; ErrConflict
	// when its id is taken.
	InsertAgencyMessage(ctx context.Context, m *AgencyMessage) error
	// GetAgencyMessage returns one agency message, bytes included.
	GetAgencyMessage(ctx context.Context, id string) (*AgencyMessage, error)
	// AgencyMessagesForDeclaration lists a declaration's agency messages
	// by ReceivedAt (then id), without Raw and Answer.
	AgencyMessagesForDeclaration(ctx context.Context, declarationID string) ([]AgencyMessage, error)

	PutDecision(ctx context.Context, d *Decision) error // upsert on (DeclarationID, Version)
	GetDecision(ctx context.Context, declarationID string, version int) (*Decision, error)

	// AuditHead returns the last entry's Seq and Hash (0, nil when empty) and
	// holds a lock on the chain head until the transaction ends, so
	// concurrent appenders serialize.
	AuditHead(ctx context.Context) (seq int64, hash []byte, err error)
	// AppendAudit inserts es in order, their Seqs already set by the caller
	// to head+1, head+2, …; ErrConflict if es[0] does not follow the head.
	// All or none are inserted while the caller holds the head (AuditHead).
	AppendAudit(ctx context.Context, es ...*AuditEntry) error
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) // ascending Seq
	// PruneAudit deletes the entries with Seq <= throughSeq once they are
	// archived elsewhere, and returns how many it deleted. It refuses
	// (ErrConflict) to delete the head entry: the next append continues the
	// chain from it, which is what links the next archive to the last one.
	PruneAudit(ctx context.Context, throughSeq int64) (int64, error)
	InsertCheckpoint(ctx context.Context, c *AuditCheckpoint) error

	// InsertCrossing stores a new crossing: ErrConflict when the
	// declaration has one, or when c is active and its (Gate, Plate)
	// already has an active crossing.
	InsertCrossing(ctx context.Context, c *Crossing) error
	// GetCrossing returns a declaration's crossing; no other transaction
	// can change it until this one ends (Postgres: FOR UPDATE).
	GetCrossing(ctx context.Context, declarationID string) (*Crossing, error)
	// UpdateCrossing writes State, Active, Plate, Detail and UpdatedAt;
	// ErrConflict when activating it collides with another active crossing.
	UpdateCrossing(ctx context.Context, c *Crossing) error
	// ActiveCrossing returns the active crossing of plate at gate, or
	// ErrNotFound.
	ActiveCrossing(ctx context.Context, gate, plate string) (*Crossing, error)
	// LockLane returns the state of a lane at a checkpoint, creating an
	// empty one (Rev 0) the first time, and holds it until the transaction
	// ends: readings of one lane are applied one at a time, whichever
	// instance receives them.
	LockLane(ctx context.Context, gate, checkpoint, lane string) (*LaneState, error)
	// PutLaneState writes s if the stored Rev still equals s.Rev, and sets
	// s.Rev to the next one; ErrConflict otherwise.
	PutLaneState(ctx context.Context, s *LaneState) error
	// GetLaneState reads a lane's state without locking it; ErrNotFound
	// for a lane that has seen no reading.
	GetLaneState(ctx context.Context, gate, checkpoint, lane string) (*LaneState, error)
	// LockDeclaration serialises the transactions that change one
	// declaration's state (its versions, messages, ACKs, decision and
	// events): it blocks until no other transaction holds the declaration
	// and holds it until this one ends (Postgres: a row lock on the first
	// version; SQLite: the single writer already holds everything).
	// ErrNotFound when no such declaration exists. Every such transaction
	// takes it FIRST, before any message row, and the audit head LAST:
	// one lock order, so no two transactions can wait on each other.
	LockDeclaration(ctx context.Context, id string) error
	// LockMessageDeclaration is LockDeclaration for the declaration of a
	// message, returning its id (ErrNotFound for an unknown message). It
	// does not lock the message itself: GetMessage does, after it.
	LockMessageDeclaration(ctx context.Context, messageID string) (string, error)

	// AppendEvent stores e for the relay, setting e.ID (and CreatedAt if
	// zero). It becomes visible to the relay when the transaction commits.
	AppendEvent(ctx context.Context, e *Event) error
	// ClaimEventRelay makes owner the one instance that relays events
	// until until, if the relay is free, its lease expired at now, or owner
	// holds it already (renewal). It reports whether owner holds it.
	ClaimEventRelay(ctx context.Context, owner string, now, until time.Time) (bool, error)
	// UnpublishedEvents returns up to limit events not yet marked
	// published, by ascending ID.
	UnpublishedEvents(ctx context.Context, limit int) ([]Event, error)
	// MarkEventsPublished sets PublishedAt of the events with these ids.
	MarkEventsPublished(ctx context.Context, ids []int64, at time.Time) error
	// LatestEvents returns the newest event of each key of topic, for the
	// limit keys changed most recently, by ascending ID: the topic's
	// current state, published or not.
	LatestEvents(ctx context.Context, topic string, limit int) ([]Event, error)
	// PruneEvents deletes the events published before before and returns
	// how many it deleted; unpublished events always stay.
	PruneEvents(ctx context.Context, before time.Time) (int64, error)
	// PutBlob stores data under its SHA-256 (lowercase hex), which the
	// caller computed; storing the same hash again changes nothing. A hash
	// that does not match data is refused.
	PutBlob(ctx context.Context, sha256Hex string, data []byte) error
	// GetBlob returns the bytes stored under a SHA-256; ErrNotFound if none.
	GetBlob(ctx context.Context, sha256Hex string) ([]byte, error)

	// PutGateConfig stores c as the current file of its gate, setting
	// c.Version to the previous version + 1.
	PutGateConfig(ctx context.Context, c *GateConfig) error
	ListGateConfigs(ctx context.Context) ([]GateConfig, error) // by code
	ListCheckpoints(ctx context.Context, fromSeq, toSeq int64) ([]AuditCheckpoint, error)
}

// Truncate returns t in UTC at the precision both stores keep
// (microseconds). Anything that hashes or signs a time before storing it
// (the audit chain, checkpoints) must use the truncated value, or the hash
// recomputed from the stored row will not match.
func Truncate(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// CheckBlob refuses a blob whose name is not the SHA-256 of its bytes, so
// a content-addressed store never holds a blob under another's name.
func CheckBlob(sha256Hex string, data []byte) error {
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != sha256Hex {
		return fmt.Errorf("blob %q: bytes hash to %x", sha256Hex, sum)
	}
	return nil
}

// CheckAuditRun reports whether es can be appended as one run: at least one
// entry, none nil, Seqs consecutive. Stores call it before inserting, so a
// run they insert is never partly refused.
func CheckAuditRun(es []*AuditEntry) error {
	if len(es) == 0 {
		return errors.New("no entries")
	}
	for i, e := range es {
		if e == nil {
			return fmt.Errorf("entry %d is nil", i)
		}
		if i > 0 && e.Seq != es[i-1].Seq+1 {
			return fmt.Errorf("seq %d follows %d", e.Seq, es[i-1].Seq)
		}
	}
	return nil
}
