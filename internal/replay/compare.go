package replay

import (
	"context"
	"fmt"

	"github.com/gatehub/gatehub/internal/store"
)

// comparePage is how many declarations a comparison reads from each store
// at a time: its memory is about one page of state (~1 KiB a
// declaration with its messages), whatever the size of the stores.
var comparePage = 500 // a variable so tests can page through small stores

// MaxDifferences is how many differences a Comparison keeps; the rest are
// only counted (a store that differs everywhere would otherwise fill
// memory with its differences).
const MaxDifferences = 1000

// Comparison is the result of CompareStores.
type Comparison struct {
	Declarations int // in a
	Messages     int // in a
	Differences  []Difference
	Omitted      int // differences found beyond MaxDifferences
}

// CompareStores walks a and b one page of declarations at a time, in byte
// order of the id, and lists where their states differ (Diff, page by
// page: each page's declarations, then its messages, then its crossings).
// With a nil b it only counts a. Each page is read in its own
// transaction: against a running hub the comparison is of each page as it
// was when read, not of one snapshot of the whole store.
func CompareStores(ctx context.Context, a, b store.Store) (*Comparison, error) {
	c := &Comparison{}
	for after := ""; ; {
		pa, err := declarationPage(ctx, a, after)
		if err != nil {
			return nil, err
		}
		var pb []store.Declaration
		if b != nil {
			if pb, err = declarationPage(ctx, b, after); err != nil {
				return nil, err
			}
		}
		// Both pages are complete up to the smaller of their last ids
		// when both are full; beyond it, the next round reads again.
		upper, last := "", true
		for _, p := range [][]store.Declaration{pa, pb} {
			if len(p) == comparePage {
				if id := p[len(p)-1].ID; last || id < upper {
					upper = id
				}
				last = false
			}
		}
		pa, pb = upTo(pa, upper, last), upTo(pb, upper, last)
		sa, err := pageState(ctx, a, pa)
		if err != nil {
			return nil, err
		}
		c.Declarations += len(sa.Declarations)
		c.Messages += len(sa.Messages)
		if b != nil {
			sb, err := pageState(ctx, b, pb)
			if err != nil {
				return nil, err
			}
			for _, d := range Diff(sa, sb) {
				if len(c.Differences) < MaxDifferences {
					c.Differences = append(c.Differences, d)
				} else {
					c.Omitted++
				}
			}
		}
		if last {
			return c, nil
		}
		after = upper
	}
}

func declarationPage(ctx context.Context, st store.Store, after string) ([]store.Declaration, error) {
	var out []store.Declaration
	err := st.WithTx(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.DeclarationsAfter(ctx, after, comparePage)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("declarations after %q: %w", after, err)
	}
	return out, nil
}

// upTo keeps the declarations of p with ids up to upper (all of them when
// last).
func upTo(p []store.Declaration, upper string, last bool) []store.Declaration {
	if last {
		return p
	}
	n := 0
	for n < len(p) && p[n].ID <= upper {
		n++
	}
	return p[:n]
}

func pageState(ctx context.Context, st store.Store, decls []store.Declaration) (*State, error) {
	s := newState()
	err := st.WithTx(ctx, func(tx store.Tx) error {
		s = newState()
		return fillState(ctx, tx, s, decls)
	})
	if err != nil {
		return nil, fmt.Errorf("read state from store: %w", err)
	}
	return s, nil
}
