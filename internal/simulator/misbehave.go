package simulator

import (
	"bytes"
	"fmt"
	"slices"
)

// Misbehaviour is one deliberate breach of the agency wire protocol. A
// simulator configured with some answers wrongly in exactly those ways, so
// that the conformance kit (internal/conformance) can be shown to catch
// each one with a reason an agency's developer understands. No shipped
// configuration sets any.
type Misbehaviour string

// The misbehaviours, each the mirror of a conformance check.
const (
	// MisbehaveUnsignedAck answers with the ACK/NACK XML but no signature.
	MisbehaveUnsignedAck Misbehaviour = "unsigned-ack"
	// MisbehaveWrongReference answers naming another message id than the
	// one received.
	MisbehaveWrongReference Misbehaviour = "wrong-reference"
	// MisbehaveAcceptInvalid skips the schema and the business rules and
	// ACKs every message whose signature holds.
	MisbehaveAcceptInvalid Misbehaviour = "accept-invalid"
	// MisbehaveDuplicateDiffers answers a resend afresh (a new ACK id and
	// signature) instead of with the original bytes.
	MisbehaveDuplicateDiffers Misbehaviour = "duplicate-differs"
	// MisbehaveTamperedSignature alters the signature value after signing.
	MisbehaveTamperedSignature Misbehaviour = "tampered-signature"
)

// Misbehaviours lists every misbehaviour a simulator knows.
func Misbehaviours() []Misbehaviour {
	return []Misbehaviour{MisbehaveUnsignedAck, MisbehaveWrongReference, MisbehaveAcceptInvalid,
		MisbehaveDuplicateDiffers, MisbehaveTamperedSignature}
}

func checkMisbehaviours(list []Misbehaviour) error {
	for _, m := range list {
		if !slices.Contains(Misbehaviours(), m) {
			return fmt.Errorf("unknown misbehaviour %q (want one of %v)", m, Misbehaviours())
		}
	}
	return nil
}

func (s *Server) misbehaves(m Misbehaviour) bool { return slices.Contains(s.misbehave, m) }

// tamperSignature changes one character of the first SignatureValue, so
// the bytes still parse and look signed but no longer verify.
func tamperSignature(signed []byte) []byte {
	i := bytes.Index(signed, []byte("SignatureValue>"))
	if i < 0 {
		return signed
	}
	i += len("SignatureValue>")
	if i >= len(signed) {
		return signed
	}
	out := bytes.Clone(signed)
	if out[i] == 'A' {
		out[i] = 'B'
	} else {
		out[i] = 'A'
	}
	return out
}
