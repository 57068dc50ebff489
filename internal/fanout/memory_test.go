package fanout

import (
	"testing"
	"time"
)

func TestMemoryContract(t *testing.T) {
	runContract(t, func(t *testing.T, retain int, opts ...Option) (Bus, Bus) {
		m := NewMemory(retain, opts...)
		t.Cleanup(func() { _ = m.Close() })
		return m, m
	})
}

func TestRingIDs(t *testing.T) {
	tests := []struct {
		name  string
		clock []int64 // unix millis seen by successive publishes
		want  []string
	}{
		{"clock advances", []int64{1000, 1001, 1005}, []string{"1000-0", "1001-0", "1005-0"}},
		{"same millisecond", []int64{1000, 1000, 1000}, []string{"1000-0", "1000-1", "1000-2"}},
		{"clock goes back", []int64{1000, 999, 1001}, []string{"1000-0", "1000-1", "1001-0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r ring
			for i, ms := range tt.clock {
				if got := r.next(ms).String(); got != tt.want[i] {
					t.Fatalf("publish %d: id %s, want %s", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestMemoryRingRetainsNewest(t *testing.T) {
	clock := time.UnixMilli(1000)
	m := NewMemory(3, WithClock(func() time.Time { return clock }))
	defer m.Close()
	all := publishN(t, m, "lane-1", 0, 7)
	r := m.topics["lane-1"]
	got := r.after(eventID{})
	if len(got) != 3 {
		t.Fatalf("retained %d, want 3", len(got))
	}
	for i, it := range got {
		if it.ev.ID != all[4+i].ID {
			t.Fatalf("retained[%d] = %s, want %s", i, it.ev.ID, all[4+i].ID)
		}
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		in      string
		want    eventID
		wantErr bool
	}{
		{"1700000000000-3", eventID{1700000000000, 3}, false},
		{"42", eventID{42, 0}, false},
		{"", eventID{}, true},
		{"abc-1", eventID{}, true},
		{"1-x", eventID{}, true},
		{"-1", eventID{}, true},
	}
	for _, tt := range tests {
		got, err := parseID(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseID(%q) = %v, %v; want %v, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
