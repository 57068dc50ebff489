// Package ids mints the identifiers the hub hands out: declaration ids that
// sort by creation time (operators read them in logs and on lane displays) and
// message ids as RFC 4122 version 4 UUIDs (what agency envelopes expect).
package ids

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"time"
)

// Crockford base32 keeps ids free of I, L, O and U so they survive being read
// aloud at a gate.
var crockford = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// Declaration returns an id like "D01JD3X…" whose prefix orders by time.
func Declaration(now time.Time) string {
	var b [15]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli()))
	if _, err := rand.Read(b[8:]); err != nil {
		// crypto/rand never fails on supported platforms; a broken one must stop the hub
		// rather than mint colliding ids.
		panic(fmt.Sprintf("ids: crypto/rand: %v", err))
	}
	// Drop the two always-zero high bytes of the millisecond timestamp.
	return "D" + crockford.EncodeToString(b[2:])
}

// Message returns a random UUID v4 in canonical text form.
func Message() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("ids: crypto/rand: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
