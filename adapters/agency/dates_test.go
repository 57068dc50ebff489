package agency

import (
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"2026-11-25", day, false},
		{"2026-11-25Z", day, false},
		{"2026-11-25+07:00", day, false},
		{"2026-11-25-05:00", day, false},
		{" 20261125 ", day, false},
		{"2026-11-25x", time.Time{}, true},
		{"2026-13-01", time.Time{}, true},
		{"25/11/2026", time.Time{}, true},
		{"", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := ParseDate(tt.in)
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
			t.Errorf("ParseDate(%q) = %v, %v; want %v, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestTodayIsVietnameseDate(t *testing.T) {
	// 18:30 UTC on the 24th is already 01:30 on the 25th in Ha Noi.
	now := time.Date(2026, 11, 24, 18, 30, 0, 0, time.UTC)
	if got, want := Today(now), time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("Today = %v, want %v", got, want)
	}
}
