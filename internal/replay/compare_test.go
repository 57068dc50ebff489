package replay

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/message"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/storetest"
)

// TestCompareStoresPaged: the paged comparison finds exactly the
// differences of the whole-state one, whatever the page size, with
// declarations on one side only, at the edges of pages and in between.
func TestCompareStoresPaged(t *testing.T) {
	ctx := context.Background()
	a, b := storetest.OpenSQLite(t), storetest.OpenSQLite(t)
	t0 := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	put := func(st store.Store, id string, state message.State, ack string) {
		t.Helper()
		err := st.WithTx(ctx, func(tx store.Tx) error {
			if err := tx.InsertDeclaration(ctx, &store.Declaration{ID: id, Version: 1, Status: "active", Gate: "HUUNGHI",
				PlateVN: "P-" + id, Body: []byte(`{}`), CreatedAt: t0}); err != nil {
				return err
			}
			if err := tx.InsertMessage(ctx, &store.Message{ID: "M-" + id, DeclarationID: id, Version: 1, Agency: "customs",
				Kind: "submit", State: state, Body: []byte("<x/>"), CreatedAt: t0}); err != nil {
				return err
			}
			if ack != "" {
				if err := tx.InsertAck(ctx, &store.Ack{MessageID: "M-" + id, Agency: "customs", Status: ack, Raw: []byte("<a/>")}); err != nil {
					return err
				}
			}
			return tx.PutDecision(ctx, &store.Decision{DeclarationID: id, Version: 1, Status: "PENDING", Detail: []byte(`{}`), DecidedAt: t0})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 12 {
		id := fmt.Sprintf("D-%02d", i)
		switch {
		case i%5 == 1: // only in a
			put(a, id, message.Sent, "")
		case i%5 == 3: // only in b
			put(b, id, message.Sent, "")
		case i%4 == 0: // in both, answered differently
			put(a, id, message.Acked, "ACK")
			put(b, id, message.Nacked, "NACK")
		default:
			put(a, id, message.Sent, "")
			put(b, id, message.Sent, "")
		}
	}
	wa, err := FromStore(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := FromStore(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	want := diffStrings(Diff(wa, wb))
	if len(want) == 0 {
		t.Fatal("fixture has no differences")
	}
	saved := comparePage
	t.Cleanup(func() { comparePage = saved })
	for _, page := range []int{1, 2, 3, 5, 500} {
		t.Run(fmt.Sprintf("page%d", page), func(t *testing.T) {
			comparePage = page
			c, err := CompareStores(ctx, a, b)
			if err != nil {
				t.Fatal(err)
			}
			if got := diffStrings(c.Differences); !slices.Equal(got, want) {
				t.Errorf("differences\n got %q\nwant %q", got, want)
			}
			if c.Declarations != len(wa.Declarations) || c.Messages != len(wa.Messages) || c.Omitted != 0 {
				t.Errorf("counted %d declarations, %d messages, %d omitted; want %d, %d, 0",
					c.Declarations, c.Messages, c.Omitted, len(wa.Declarations), len(wa.Messages))
			}
			same, err := CompareStores(ctx, a, a)
			if err != nil {
				t.Fatal(err)
			}
			if len(same.Differences) != 0 {
				t.Errorf("a store compared with itself: %v", same.Differences)
			}
		})
	}
}

func diffStrings(ds []Difference) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.String())
	}
	slices.Sort(out)
	return out
}

// sampledStore samples the live heap at every transaction.
type sampledStore struct {
	store.Store
	sample func()
}

func (s sampledStore) WithTx(ctx context.Context, fn func(store.Tx) error) error {
	s.sample()
	return s.Store.WithTx(ctx, func(tx store.Tx) error {
		err := fn(tx)
		s.sample()
		return err
	})
}

// TestCompareStoresMemoryDoesNotGrowWithTheStores compares two stores of
// 300 and then of 3,000 declarations: ten times the declarations may not
// need more than 1.5 times the peak heap (plus 2 MiB of slack). Reading
// both states whole, as the comparison did, needs ~1 KiB per declaration
// and side.
func TestCompareStoresMemoryDoesNotGrowWithTheStores(t *testing.T) {
	if testing.Short() {
		t.Skip("fills stores with 3,000 declarations")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	ctx := context.Background()
	t0 := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	fill := func(st store.Store, n int) {
		err := st.WithTx(ctx, func(tx store.Tx) error {
			for i := range n {
				id := fmt.Sprintf("D-%06d", i)
				if err := tx.InsertDeclaration(ctx, &store.Declaration{ID: id, Version: 1, Status: "active", Gate: "HUUNGHI",
					TraderTaxCode: "0101234567", PlateVN: fmt.Sprintf("12C-%05d", i), Body: []byte(`{}`), CreatedAt: t0}); err != nil {
					return err
				}
				for _, a := range []string{"customs", "borderguard", "vehicleregistry", "guangxi"} {
					m := &store.Message{ID: "M-" + id + "-" + a, DeclarationID: id, Version: 1, Agency: a, Kind: "submit",
						State: message.Acked, Body: []byte("<x/>"), CreatedAt: t0}
					if err := tx.InsertMessage(ctx, m); err != nil {
						return err
					}
					if err := tx.InsertAck(ctx, &store.Ack{MessageID: m.ID, Agency: a, AckID: "A-" + m.ID, Status: "ACK", Raw: []byte("<a/>")}); err != nil {
						return err
					}
				}
				if err := tx.PutDecision(ctx, &store.Decision{DeclarationID: id, Version: 1, Status: "CLEARED",
					Detail: []byte(`{"agencies":["customs","borderguard","vehicleregistry","guangxi"]}`), DecidedAt: t0}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	measure := func(n int) uint64 {
		a, b := storetest.OpenSQLite(t), storetest.OpenSQLite(t)
		fill(a, n)
		fill(b, n)
		runtime.GC()
		base, peak := liveHeap(), uint64(0)
		sample := func() {
			if h := liveHeap(); h > base && h-base > peak {
				peak = h - base
			}
		}
		c, err := CompareStores(ctx, sampledStore{a, sample}, sampledStore{b, sample})
		if err != nil {
			t.Fatal(err)
		}
		if c.Declarations != n || len(c.Differences) != 0 {
			t.Fatalf("compared %d declarations, %d differences; want %d, none", c.Declarations, len(c.Differences), n)
		}
		return peak
	}
	saved := comparePage
	t.Cleanup(func() { comparePage = saved })
	comparePage = 100
	small, large := measure(300), measure(3000)
	t.Logf("peak live heap above baseline: %d KiB for 300 declarations, %d KiB for 3,000", small>>10, large>>10)
	if large > small*3/2+2<<20 {
		t.Errorf("compare: %d bytes for 3,000 declarations, %d for 300", large, small)
	}
}

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
