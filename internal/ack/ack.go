// Package ack turns the raw bytes an agency sends back into trusted ACK/NACK
// fields: it bounds the input, verifies the XML signature against the trust
// store entry of the agency the ACK claims to come from, and reads the fields
// from the verified element only (never from the raw document, which is what
// signature-wrapping attacks rely on).
package ack

import (
	"errors"
	"fmt"
	"time"

	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/sign"
)

// MaxBytes bounds an ACK body, read here and on the HTTP endpoint alike;
// real ACKs are a few kilobytes.
const MaxBytes = 256 << 10

// Status values of an ACK.
const (
	StatusAck  = "ACK"
	StatusNack = "NACK"
)

// ErrRefused marks an ACK the hub will not act on (bad signature, wrong
// agency key, unreadable). The error text says why.
var ErrRefused = errors.New("ack refused")

// ErrSignature is the refusal of an ACK whose signature does not verify
// against the certificates of the agency it claims to come from. It wraps
// ErrRefused.
var ErrSignature = fmt.Errorf("%w: signature", ErrRefused)

// Reader verifies and reads ACKs.
type Reader struct {
	Verifier *sign.Verifier
	Mappings *mapping.Registry
}

// Read verifies raw as signed by agency at time at and returns its fields.
func (r *Reader) Read(agency string, raw []byte, at time.Time) (mapping.AckFields, error) {
	if len(raw) == 0 {
		return mapping.AckFields{}, fmt.Errorf("%w: empty body", ErrRefused)
	}
	if len(raw) > MaxBytes {
		return mapping.AckFields{}, fmt.Errorf("%w: %d bytes exceeds limit of %d", ErrRefused, len(raw), MaxBytes)
	}
	el, err := r.Verifier.Verify(agency, raw, at)
	if err != nil {
		return mapping.AckFields{}, fmt.Errorf("%w of %s: %v", ErrSignature, agency, err)
	}
	f, err := r.Mappings.ParseAck(agency, el)
	if err != nil {
		return mapping.AckFields{}, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	if f.Status != StatusAck && f.Status != StatusNack {
		return mapping.AckFields{}, fmt.Errorf("%w: status %q is neither ACK nor NACK", ErrRefused, f.Status)
	}
	if f.RefMessageID == "" {
		return mapping.AckFields{}, fmt.Errorf("%w: no referenced message id", ErrRefused)
	}
	return f, nil
}
