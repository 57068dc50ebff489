package refusallog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/hubtest"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/storetest"
)

// TestRefusals: a refusal somebody vouches for is always logged; an
// anonymous source gets its own entries up to the guard's detail, then is
// summarised in one entry when its window ends.
func TestRefusals(t *testing.T) {
	cases := []struct {
		name        string
		anonymous   bool
		n           int
		wantEntries int // before the window ends
		wantSummary bool
	}{
		{name: "vouched", n: 8, wantEntries: 8},
		{name: "anonymous few", anonymous: true, n: 3, wantEntries: 3},
		{name: "anonymous flood", anonymous: true, n: 8, wantEntries: 5, wantSummary: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := hubtest.New(t, storetest.OpenSQLite(t))
			ctx := t.Context()
			for i := range tc.n {
				detail := map[string]int{"i": i}
				if tc.anonymous {
					h.RefusalLog.RecordAnonymousRefusal(ctx, "auth.refused", "192.0.2.1:1234", "bad token", detail)
				} else {
					h.RefusalLog.RecordRefusal(ctx, "auth.refused", "agency:customs", detail)
				}
			}
			count := func() int {
				es, err := h.Views.AuditFind(ctx, store.AuditFilter{Kind: "auth.refused"})
				if err != nil {
					t.Fatal(err)
				}
				return len(es)
			}
			if got := count(); got != tc.wantEntries {
				t.Errorf("%d entries, want %d", got, tc.wantEntries)
			}
			h.Clock.Advance(time.Hour)
			h.RefusalLog.FlushRefusals(ctx, false)
			want := tc.wantEntries
			if tc.wantSummary {
				want++
			}
			if got := count(); got != want {
				t.Errorf("%d entries after the window, want %d (%s)", got, want, fmt.Sprint(tc.wantSummary))
			}
		})
	}
}
