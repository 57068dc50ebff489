package fanout

import "testing"

// TestDeliverSkipsWhatTheReplayCovered: live copies of events the replay
// already holds are not buffered, so they cannot overflow (and drop) a
// subscriber that is still busy sending its replay.
func TestDeliverSkipsWhatTheReplayCovered(t *testing.T) {
	reg := newRegistry(1)
	s := reg.add("lane")
	mk := func(ms uint64) item { return item{id: eventID{ms: ms}, ev: Event{Topic: "lane"}} }
	s.coverThrough([]item{mk(1), mk(2), mk(3)})

	tests := []struct {
		name     string
		id       uint64
		buffered int
		dropped  bool
	}{
		{"duplicate of the first replayed", 1, 0, false},
		{"duplicate of the last replayed", 3, 0, false},
		{"new event is buffered", 4, 1, false},
		{"a second new one overflows the one-slot buffer", 5, 1, true},
	}
	for _, tc := range tests {
		reg.deliver(mk(tc.id))
		if got := len(s.live); got != tc.buffered {
			t.Fatalf("%s: %d buffered, want %d", tc.name, got, tc.buffered)
		}
		select {
		case <-s.done:
			if !tc.dropped {
				t.Fatalf("%s: subscriber dropped", tc.name)
			}
		default:
			if tc.dropped {
				t.Fatalf("%s: subscriber kept", tc.name)
			}
		}
	}
}
