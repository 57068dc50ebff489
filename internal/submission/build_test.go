package submission

import (
	"fmt"
	"slices"
	"strings"
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
				h := &Service{}
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

// A panic while building side by side reaches the caller, where the HTTP
// layer recovers it, instead of ending the process from a goroutine.
func TestBuildAllPanicReachesCaller(t *testing.T) {
	h := &Service{}
	h.building.Store(-1 << 20) // side by side
	defer func() {
		p := recover()
		msg, _ := p.(string)
		if !strings.Contains(msg, "building the guangxi message: mapping bug") {
			t.Errorf("recovered %v, want the guangxi panic", p)
		}
		if h.building.Load() != -1<<20 {
			t.Errorf("building = %d after the panic, want it restored", h.building.Load())
		}
	}()
	_, _ = h.buildAll([]string{"customs", "guangxi"}, func(agency string) (*builtMessage, error) {
		if agency == "guangxi" {
			panic("mapping bug")
		}
		return &builtMessage{msg: &store.Message{Agency: agency}}, nil
	})
	t.Error("buildAll returned instead of panicking")
}
