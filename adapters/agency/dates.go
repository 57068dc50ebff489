package agency

import (
	"fmt"
	"strings"
	"time"
)

// VietnamTime is the zone (UTC+7, no daylight saving) in which the
// Vietnamese agencies decide whether a document has expired "today". A fixed
// zone avoids depending on the host's tz database.
func VietnamTime() *time.Location { return time.FixedZone("ICT", 7*3600) }

// Today is the civil date of now at the Vietnamese agencies, as midnight UTC
// so it compares directly with ParseDate results.
func Today(now time.Time) time.Time {
	y, m, d := now.In(VietnamTime()).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// ParseDate reads a civil date as agencies write it: xs:date with or
// without a zone suffix (the zone of a date-only value does not move the
// day), or the compact yyyyMMdd of the Chinese formats. The result is
// midnight UTC of that day.
func ParseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	var day string
	switch {
	case len(s) == 8 && !strings.Contains(s, "-"):
		t, err := time.Parse("20060102", s)
		if err != nil {
			return time.Time{}, fmt.Errorf("date %q: %w", s, err)
		}
		return t, nil
	case len(s) >= 10:
		day = s[:10]
		if rest := s[10:]; rest != "" && rest != "Z" {
			if _, err := time.Parse("-07:00", rest); err != nil {
				return time.Time{}, fmt.Errorf("date %q: bad zone suffix %q", s, rest)
			}
		}
	default:
		return time.Time{}, fmt.Errorf("date %q: not a date", s)
	}
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: %w", s, err)
	}
	return t, nil
}
