package simulator

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// The simulator remembers at most MaxRecords message ids, so a long demo or
// soak run stays flat in memory; within that window a resend still gets
// the original signed ACK, byte for byte; a message forgotten is answered
// afresh under the same AckID.
func TestRecordsAreBounded(t *testing.T) {
	const max, sent = 8, 24
	clock := simNow
	r := newRig(t, "customs", func(c *Config) {
		c.MaxRecords = max
		c.Now = func() time.Time { return clock }
	})
	decl := loadDeclaration(t, "huu-nghi-export.json")
	bodies := map[string][]byte{}
	acks := map[string][]byte{}
	for i := range sent {
		id := fmt.Sprintf("M-BOUND-%02d", i)
		bodies[id] = r.build("submit", id, decl, nil)
		resp := r.post(id, bodies[id])
		if resp.Status != 200 {
			t.Fatalf("%s: HTTP %d %s", id, resp.Status, resp.Body)
		}
		acks[id] = resp.Body
		if n := len(r.sim.Stats()); n > max {
			t.Fatalf("after %d messages the simulator remembers %d, want at most %d", i+1, n, max)
		}
	}
	clock = clock.Add(time.Hour) // a fresh ACK would differ from the first
	recent := fmt.Sprintf("M-BOUND-%02d", sent-1)
	if resp := r.post(recent, bodies[recent]); !bytes.Equal(resp.Body, acks[recent]) {
		t.Errorf("resend of %s within the window got other bytes than its original ACK", recent)
	}
	old := "M-BOUND-00"
	if _, ok := r.sim.Ack(old); ok {
		t.Errorf("%s still remembered after %d newer messages", old, sent-1)
	}
	resp := r.post(old, bodies[old])
	if resp.Status != 200 {
		t.Fatalf("resend of forgotten %s: HTTP %d", old, resp.Status)
	}
	if got, want := r.readAck(resp.Body).AckID, r.readAck(acks[old]).AckID; got != want {
		t.Errorf("forgotten %s answered with ACK id %s, first answer had %s", old, got, want)
	}
	if n := len(r.sim.Stats()); n != max {
		t.Errorf("remembers %d message ids, want %d", n, max)
	}
}
