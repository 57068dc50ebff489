package borderguard

import (
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

func person(name, pass string) string {
	return "<Person><FullName>" + name + "</FullName>" + pass + "</Person>"
}

func pass(number, expiry string) string {
	return "<BorderPass><Number>" + number + "</Number><ExpiryDate>" + expiry + "</ExpiryDate></BorderPass>"
}

func TestRules(t *testing.T) {
	now := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		crew     []string
		wantCode string
	}{
		{"driver with valid pass", []string{person("Nguyen Van A", pass("BP-1", "2027-03-01"))}, ""},
		{"pass expiring today", []string{person("Nguyen Van A", pass("BP-1", "2026-11-25"))}, ""},
		{"driver pass expired", []string{person("Nguyen Van A", pass("BP-1", "2026-11-24"))}, CodePassExpired},
		{"co-driver pass expired", []string{
			person("Nguyen Van A", pass("BP-1", "2027-03-01")),
			person("Tran Van B", pass("BP-2", "2025-01-01")),
		}, CodePassExpired},
		{"no pass element", []string{person("Nguyen Van A", "")}, CodePassMissing},
		{"empty pass number", []string{person("Nguyen Van A", pass("", "2027-01-01"))}, CodePassMissing},
		{"no crew", nil, CodePassMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := etree.NewDocument()
			xml := `<CrossingNoticeSubmit xmlns="urn:gatehub:borderguard:crossing-notice:1"><Crossing><Crew>` +
				strings.Join(tt.crew, "") + `</Crew></Crossing></CrossingNoticeSubmit>`
			if err := doc.ReadFromString(xml); err != nil {
				t.Fatal(err)
			}
			code := ""
			for _, r := range Rules() {
				if ok, c, text := r.Check(doc.Root(), now); !ok {
					if text == "" {
						t.Fatal("NACK without text")
					}
					code = c
					break
				}
			}
			if code != tt.wantCode {
				t.Fatalf("code = %q, want %q", code, tt.wantCode)
			}
		})
	}
}
