package hub

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gatehub/gatehub/internal/store"
)

// buildAll gives the same answer whether it builds side by side or in
// turn: messages in agency order, the first agency's error.
func TestBuildAllSameInBothModes(t *testing.T) {
	agencies := []string{"customs", "borderguard", "vehicleregistry", "guangxi"}
	modes := []struct {
		name     string
		building int64 // submits already building
	}{
		{"side by side", -1 << 20},
		{"in turn", 1 << 20},
	}
	cases := []struct {
		name    string
		failing []string
		wantErr string
	}{
		{"all built", nil, ""},
		{"one fails", []string{"vehicleregistry"}, "vehicleregistry failed"},
		{"first failing agency wins", []string{"guangxi", "borderguard"}, "borderguard failed"},
	}
	for _, mode := range modes {
		for _, tc := range cases {
			t.Run(mode.name+"/"+tc.name, func(t *testing.T) {
				h := &Hub{}
				h.building.Store(mode.building)
				msgs, err := h.buildAll(agencies, func(agency string) (*builtMessage, error) {
					if slices.Contains(tc.failing, agency) {
						return nil, fmt.Errorf("%s failed", agency)
					}
					return &builtMessage{msg: &store.Message{Agency: agency}}, nil
				})
				if h.building.Load() != mode.building {
					t.Errorf("building = %d after return, want %d", h.building.Load(), mode.building)
				}
				if tc.wantErr != "" {
					if err == nil || err.Error() != tc.wantErr || msgs != nil {
						t.Fatalf("buildAll = %v, %v; want nil, %q", msgs, err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, m := range msgs {
					got = append(got, m.msg.Agency)
				}
				if !slices.Equal(got, agencies) {
					t.Fatalf("agencies %v, want %v", got, agencies)
				}
			})
		}
	}
}
