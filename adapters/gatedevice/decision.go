// Package gatedevice defines the signed lane decision that the hub sends to
// gate devices, and verifies it offline. A barrier controller holds the
// hub's Ed25519 public keys and checks every decision itself before moving
// the barrier, so a forged, altered, replayed-after-expiry or misrouted
// decision is refused even if the network between hub and lane is not
// trusted. The package uses only the standard library so device vendors
// can import it directly; README.md describes the format for vendors who
// implement verification in another language.
package gatedevice

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Lane actions.
const (
	ActionOpen       = "OPEN"
	ActionKeepClosed = "KEEP-CLOSED"
)

// Type is the payload's "typ" value. Signing it binds the signature to this
// purpose, so a signature the hub makes for anything else can never pass as
// a lane decision.
//
// v2 added the checkpoint: a decision for one checkpoint of a gate's route
// must not open the barrier of another, so v1 tokens (which do not name
// one) are refused.
const Type = "gatehub.lane-decision.v2"

// MaxClockSkew is how far in the future IssuedAt may lie before Verify
// refuses the decision; device clocks drift and are not always NTP-synced.
const MaxClockSkew = 30 * time.Second

// maxTokenLen bounds the work Verify does for garbage input.
const maxTokenLen = 16 << 10

// Errors returned by Verify, wrapped with detail; test them with errors.Is.
var (
	ErrMalformed    = errors.New("malformed lane decision")
	ErrUnknownKey   = errors.New("unknown signing key")
	ErrBadSignature = errors.New("bad signature")
	ErrExpired      = errors.New("lane decision expired")
	ErrNotYetValid  = errors.New("lane decision issued in the future")
	// Returned by Check.
	ErrMisrouted  = errors.New("lane decision for another barrier")
	ErrWrongPlate = errors.New("lane decision for another vehicle")
)

// Decision is one signed instruction to a lane. Times have one-second
// precision on the wire.
type Decision struct {
	Gate          string
	Checkpoint    string // the checkpoint of the gate's route the lane stands at
	Lane          string
	Device        string // the device it is addressed to; empty for every device of the lane
	DeclarationID string
	Version       int
	Plate         string
	Action        string // OPEN | KEEP-CLOSED
	ReasonEN      string
	ReasonVI      string
	IssuedAt      time.Time
	ExpiresAt     time.Time
	KeyID         string
	Nonce         string // unique per decision; devices remember recent ones to refuse replays
}

// payload is the wire form. Field order here is the canonical order on the
// wire; changing it breaks every deployed verifier.
type payload struct {
	Typ           string `json:"typ"`
	KeyID         string `json:"kid"`
	Gate          string `json:"gate"`
	Checkpoint    string `json:"checkpoint"`
	Lane          string `json:"lane"`
	Device        string `json:"device"`
	DeclarationID string `json:"declarationId"`
	Version       int    `json:"version"`
	Plate         string `json:"plate"`
	Action        string `json:"action"`
	ReasonEN      string `json:"reasonEN"`
	ReasonVI      string `json:"reasonVI"`
	IssuedAt      string `json:"issuedAt"`
	ExpiresAt     string `json:"expiresAt"`
	Nonce         string `json:"nonce"`
}

var b64 = base64.RawURLEncoding.Strict()

// Sign returns the compact token for d signed with key:
// base64url(payload) "." base64url(signature), no padding. keyID replaces
// d.KeyID; an empty d.Nonce is filled with 128 random bits.
func Sign(key ed25519.PrivateKey, keyID string, d Decision) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("sign lane decision: private key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	d.KeyID = keyID
	if d.Nonce == "" {
		var n [16]byte
		if _, err := rand.Read(n[:]); err != nil {
			return "", fmt.Errorf("sign lane decision: nonce: %w", err)
		}
		d.Nonce = b64.EncodeToString(n[:])
	}
	p := toPayload(d)
	if err := p.check(); err != nil {
		return "", fmt.Errorf("sign lane decision: %w", err)
	}
	body, err := p.encode()
	if err != nil {
		return "", fmt.Errorf("sign lane decision: %w", err)
	}
	sig := ed25519.Sign(key, body)
	return b64.EncodeToString(body) + "." + b64.EncodeToString(sig), nil
}

// Verify checks token against the trusted keys (key id → public key) at
// time now and returns the decision. It refuses malformed or non-canonical
// tokens, unknown key ids, bad signatures, expired decisions (ExpiresAt at
// or before now) and decisions issued more than MaxClockSkew in the future.
//
// Verify does not know who the caller is: the device must still check that
// Gate, Checkpoint, Lane and (when set) Device are its own and that Plate
// matches the truck in front of it (Check does both), and that it has not
// seen Nonce before.
func Verify(keys map[string]ed25519.PublicKey, token string, now time.Time) (Decision, error) {
	if len(token) > maxTokenLen {
		return Decision{}, fmt.Errorf("%w: token longer than %d bytes", ErrMalformed, maxTokenLen)
	}
	bodyB64, sigB64, ok := strings.Cut(token, ".")
	if !ok || bodyB64 == "" || sigB64 == "" || strings.Contains(sigB64, ".") {
		return Decision{}, fmt.Errorf("%w: want two base64url parts separated by one '.'", ErrMalformed)
	}
	body, err := b64.DecodeString(bodyB64)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	sig, err := b64.DecodeString(sigB64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Decision{}, fmt.Errorf("%w: signature is not %d base64url-encoded bytes", ErrMalformed, ed25519.SignatureSize)
	}

	var p payload
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Decision{}, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	// Only the exact bytes Sign would produce are accepted, which shuts out
	// duplicate keys, trailing data and reordered or re-spaced fields that
	// different JSON parsers might read differently.
	if canon, err := p.encode(); err != nil || !bytes.Equal(canon, body) {
		return Decision{}, fmt.Errorf("%w: payload is not in canonical form", ErrMalformed)
	}
	if err := p.check(); err != nil {
		return Decision{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}

	pub, ok := keys[p.KeyID]
	if !ok || len(pub) != ed25519.PublicKeySize {
		return Decision{}, fmt.Errorf("%w: %q", ErrUnknownKey, p.KeyID)
	}
	if !ed25519.Verify(pub, body, sig) {
		return Decision{}, fmt.Errorf("%w (key %q)", ErrBadSignature, p.KeyID)
	}

	d := p.decision()
	if !d.ExpiresAt.After(now) {
		return Decision{}, fmt.Errorf("%w at %s (now %s)", ErrExpired, p.ExpiresAt, now.UTC().Format(time.RFC3339))
	}
	if d.IssuedAt.After(now.Add(MaxClockSkew)) {
		return Decision{}, fmt.Errorf("%w: issued %s, now %s", ErrNotYetValid, p.IssuedAt, now.UTC().Format(time.RFC3339))
	}
	return d, nil
}

func toPayload(d Decision) payload {
	return payload{
		Typ:           Type,
		KeyID:         d.KeyID,
		Gate:          d.Gate,
		Checkpoint:    d.Checkpoint,
		Lane:          d.Lane,
		Device:        d.Device,
		DeclarationID: d.DeclarationID,
		Version:       d.Version,
		Plate:         d.Plate,
		Action:        d.Action,
		ReasonEN:      d.ReasonEN,
		ReasonVI:      d.ReasonVI,
		IssuedAt:      formatTime(d.IssuedAt),
		ExpiresAt:     formatTime(d.ExpiresAt),
		Nonce:         d.Nonce,
	}
}

func (p payload) decision() Decision {
	issued, _ := time.Parse(time.RFC3339, p.IssuedAt)
	expires, _ := time.Parse(time.RFC3339, p.ExpiresAt)
	return Decision{
		Gate:          p.Gate,
		Checkpoint:    p.Checkpoint,
		Lane:          p.Lane,
		Device:        p.Device,
		DeclarationID: p.DeclarationID,
		Version:       p.Version,
		Plate:         p.Plate,
		Action:        p.Action,
		ReasonEN:      p.ReasonEN,
		ReasonVI:      p.ReasonVI,
		IssuedAt:      issued,
		ExpiresAt:     expires,
		KeyID:         p.KeyID,
		Nonce:         p.Nonce,
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// encode writes the canonical payload: compact JSON in struct field order,
// no HTML escaping (so '<' and '&' in reason texts stay readable), no
// trailing newline.
func (p payload) encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// check enforces what both signer and verifier require of a payload.
func (p payload) check() error {
	var missing []string
	for name, v := range map[string]string{"kid": p.KeyID, "gate": p.Gate, "checkpoint": p.Checkpoint, "lane": p.Lane,
		"declarationId": p.DeclarationID, "action": p.Action, "nonce": p.Nonce,
		"issuedAt": p.IssuedAt, "expiresAt": p.ExpiresAt} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	if p.Typ != Type {
		return fmt.Errorf("typ %q, want %q", p.Typ, Type)
	}
	if p.Action != ActionOpen && p.Action != ActionKeepClosed {
		return fmt.Errorf("action %q, want %s or %s", p.Action, ActionOpen, ActionKeepClosed)
	}
	if p.Version < 1 {
		return fmt.Errorf("version %d, want >= 1", p.Version)
	}
	issued, err := parseUTC(p.IssuedAt)
	if err != nil {
		return fmt.Errorf("issuedAt: %w", err)
	}
	expires, err := parseUTC(p.ExpiresAt)
	if err != nil {
		return fmt.Errorf("expiresAt: %w", err)
	}
	if !expires.After(issued) {
		return fmt.Errorf("expiresAt %s is not after issuedAt %s", p.ExpiresAt, p.IssuedAt)
	}
	return nil
}

// parseUTC accepts only the form formatTime writes.
func parseUTC(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, err
	}
	if formatTime(t) != s {
		return time.Time{}, fmt.Errorf("%q is not a UTC RFC 3339 time without fractions", s)
	}
	return t, nil
}

// Barrier is who a barrier controller is: the gate, checkpoint, lane and
// device id it was installed as.
type Barrier struct {
	Gate, Checkpoint, Lane, Device string
}

// Check reports whether a verified decision is addressed to barrier b and
// names the plate the barrier's own camera read (plate "" skips the plate
// check, for barriers without a camera of their own). A barrier acts only
// on a decision that passes both Verify and Check.
func Check(d Decision, b Barrier, plate string) error {
	if d.Gate != b.Gate || d.Checkpoint != b.Checkpoint || d.Lane != b.Lane || (d.Device != "" && d.Device != b.Device) {
		return fmt.Errorf("%w: decision for %s/%s/%s, barrier is %s/%s/%s", ErrMisrouted,
			d.Gate, d.Checkpoint, d.Lane, b.Gate, b.Checkpoint, b.Lane)
	}
	if plate != "" && d.Plate != plate {
		return fmt.Errorf("%w: decision for plate %s, camera read %s", ErrWrongPlate, d.Plate, plate)
	}
	return nil
}
