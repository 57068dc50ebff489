// Package store persists declarations, outbound messages (the outbox), ACKs,
// clearance decisions, idempotency keys and the audit log. Two
// implementations (embedded SQLite and Postgres) satisfy one contract test;
// every state change happens inside WithTx so nothing is half-written.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when an insert collides with a unique key.
var ErrConflict = errors.New("conflict")

// Message states. A message is created Pending; the dispatcher moves it to
// Sent once the agency accepted the HTTP call; an ACK or NACK moves it to
// Acked or Nacked. Dead means delivery was given up (dead-letter); Cancelled
// means an operator stopped it; Superseded means a later declaration version
// replaced it.
const (
	StatePending    = "pending"
	StateSent       = "sent"
	StateAcked      = "acked"
	StateNacked     = "nacked"
	StateDead       = "dead"
	StateCancelled  = "cancelled"
	StateSuperseded = "superseded"
)

// MessageStates lists every message state, for filters that refuse a state
// that does not exist.
var MessageStates = []string{StatePending, StateSent, StateAcked, StateNacked, StateDead, StateCancelled, StateSuperseded}

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
	Kind           string // submit | amend | cancel
	PreviousID     string // message this one replaces, for amend/cancel
	MappingVersion string
	SchemaVersion  string
	ContentHash    string // SHA-256 hex of the canonical unsigned XML
	Body           []byte
	State          string
	Attempts       int
	NextAttemptAt  time.Time
	LastError      string
	LeaseOwner     string
	LeaseUntil     time.Time // zero when not claimed
	SentAt         time.Time // zero until delivered
	AckDeadline    time.Time // zero until delivered
	CreatedAt      time.Time
	UpdatedAt      time.Time
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

// Decision is the clearance decision for one declaration version.
type Decision struct {
	DeclarationID string
	Version       int
	Status        string // CLEARED | HOLD | REJECTED | PENDING | CANCELLED
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
	PrevHash      []byte
	Hash          []byte
}

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

// MessageFilter selects messages for operator listings. Zero fields match all.
type MessageFilter struct {
	State         string
	Agency        string
	DeclarationID string
	OverdueAt     time.Time // non-zero: only Sent messages whose AckDeadline is before this
	Limit         int
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
	Ping(ctx context.Context) error
	Close() error
}

// Tx is the set of operations available inside one transaction.
type Tx interface {
	InsertDeclaration(ctx context.Context, d *Declaration) error // ErrConflict on (ID, Version)
	LatestDeclaration(ctx context.Context, id string) (*Declaration, error)
	DeclarationVersion(ctx context.Context, id string, version int) (*Declaration, error)
	// DeclarationsByPlate returns the latest version of every declaration whose
	// VN or CN plate equals plate, newest first.
	DeclarationsByPlate(ctx context.Context, plate string, limit int) ([]Declaration, error)
	ListDeclarations(ctx context.Context, trader string, limit int) ([]Declaration, error) // trader "" = all; latest versions, newest first
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
	// UpdateMessage writes the mutable delivery fields (State, Attempts,
	// NextAttemptAt, LastError, LeaseOwner, LeaseUntil, SentAt, AckDeadline, UpdatedAt).
	UpdateMessage(ctx context.Context, m *Message) error
	// CountMessages returns how many messages each (agency, state) pair
	// holds; pairs with none are absent. It feeds the outbox depth gauge.
	CountMessages(ctx context.Context) (map[[2]string]int, error)

	InsertAck(ctx context.Context, a *Ack) error // ErrConflict if the message already has an ACK
	GetAck(ctx context.Context, messageID string) (*Ack, error)
	// AcksForDeclaration returns the ACKs stored for the declaration's
	// messages, by message id, without their XML (Raw nil).
	AcksForDeclaration(ctx context.Context, declarationID string) (map[string]Ack, error)

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
