package simulator

import "testing"

func TestPickedShare(t *testing.T) {
	for _, tc := range []struct {
		share float64
		want  []int
	}{
		{0, nil},
		{0.25, []int{4, 8, 12}},
		{0.5, []int{2, 4, 6, 8, 10, 12}},
		{1, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
	} {
		var got []int
		for n := 1; n <= 12; n++ {
			if picked(n, tc.share) {
				got = append(got, n)
			}
		}
		if len(got) != len(tc.want) {
			t.Fatalf("share %v picks %v, want %v", tc.share, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("share %v picks %v, want %v", tc.share, got, tc.want)
			}
		}
	}
}
