package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// testDeclarationsAfter: a walk one page at a time meets every
// declaration once, at its latest version, in byte order of the id (the
// order Go's string comparison and both stores agree on, whatever the
// database's collation), without the bodies.
func testDeclarationsAfter(t *testing.T, s store.Store) {
	ctx := t.Context()
	ids := []string{"D-b", "D-B", "D_1", "d-1", "D-10", "D-2", "Đ-1", "D-a"}
	var ds []*store.Declaration
	for i, id := range ids {
		ds = append(ds, decl(id, 1, "T", "", "", at(time.Duration(i)*time.Second)))
	}
	ds = append(ds, decl("D-2", 2, "T", "", "", at(time.Minute)), decl("D-2", 3, "T", "", "", at(2*time.Minute)))
	mustInsertDecls(t, s, ds...)
	want := slices.Clone(ids)
	slices.Sort(want)
	for _, page := range []int{1, 3, len(ids), 100} {
		t.Run(fmt.Sprintf("page%d", page), func(t *testing.T) {
			var got []string
			after := ""
			for range len(ids) + 2 {
				var ps []store.Declaration
				inTx(t, s, func(tx store.Tx) error {
					var err error
					ps, err = tx.DeclarationsAfter(ctx, after, page)
					return err
				})
				if len(ps) > page {
					t.Fatalf("page of %d holds %d", page, len(ps))
				}
				for _, d := range ps {
					if d.Body != nil {
						t.Errorf("%s: body returned", d.ID)
					}
					if wantV := map[string]int{"D-2": 3}[d.ID]; (wantV == 0 && d.Version != 1) || (wantV != 0 && d.Version != wantV) {
						t.Errorf("%s: version %d, want the latest", d.ID, d.Version)
					}
					got = append(got, d.ID)
				}
				if len(ps) < page {
					break
				}
				after = ps[len(ps)-1].ID
			}
			equal(t, "walk", got, want)
		})
	}
}
