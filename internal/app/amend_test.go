package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/views"
)

func (h *harness) submitWithKey(key string, body []byte) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequest("POST", h.url+"/v1/declarations", strings.NewReader(string(body)))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+traderToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, data
}

func TestIdempotentSubmit(t *testing.T) {
	h := start(t, nil)
	body := sample(t, nil)
	other := sample(t, func(m map[string]any) { m["vehicle"].(map[string]any)["plateVN"] = "12C-99999" })

	resp, data := h.submitWithKey("retry-1", body)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first POST: HTTP %d replayed=%q: %s", resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), data)
	}
	first := decodeJSON[views.DeclarationView](t, data)

	tests := []struct {
		name     string
		key      string
		body     []byte
		status   int
		replayed bool
		sameID   bool
	}{
		{"same key, same body: the first result", "retry-1", body, http.StatusOK, true, true},
		{"again: still the first result", "retry-1", body, http.StatusOK, true, true},
		{"same key, different body", "retry-1", other, http.StatusConflict, false, false},
		// The same truck under another key is a duplicate, not a new
		// crossing: 409 naming the active declaration (issue 13).
		{"another key, same truck: refused", "retry-2", body, http.StatusConflict, false, false},
		{"another key, another truck: a new declaration", "retry-3", sample(t, withSerial("61001")), http.StatusCreated, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, data := h.submitWithKey(tc.key, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, tc.status, data)
			}
			if got := resp.Header.Get("Idempotent-Replayed") == "true"; got != tc.replayed {
				t.Fatalf("Idempotent-Replayed %q, want %v", resp.Header.Get("Idempotent-Replayed"), tc.replayed)
			}
			if resp.StatusCode == http.StatusConflict && tc.key != "retry-1" && !strings.Contains(string(data), first.ID) {
				t.Fatalf("409 does not name the active declaration %s: %s", first.ID, data)
			}
			if resp.StatusCode >= 300 {
				return
			}
			v := decodeJSON[views.DeclarationView](t, data)
			if (v.ID == first.ID) != tc.sameID {
				t.Fatalf("id %s, first %s, same wanted %v", v.ID, first.ID, tc.sameID)
			}
			if loc := resp.Header.Get("Location"); loc != "/v1/declarations/"+v.ID {
				t.Errorf("Location %q", loc)
			}
		})
	}

	// The replays created nothing: two declarations, four messages each,
	// two declaration.accepted entries.
	resp, data = h.do("GET", "/v1/declarations", traderToken, nil, "")
	list := decodeJSON[struct {
		Declarations []struct{ ID string } `json:"declarations"`
	}](t, data)
	if resp.StatusCode != http.StatusOK || len(list.Declarations) != 2 {
		t.Fatalf("declarations: HTTP %d %s, want 2", resp.StatusCode, data)
	}
	resp, data = h.do("GET", "/v1/admin/outbox?declaration="+first.ID, operatorToken, nil, "")
	if msgs := decodeJSON[struct{ Messages []views.MessageView }](t, data).Messages; resp.StatusCode != http.StatusOK || len(msgs) != 4 {
		t.Fatalf("messages of %s: %d, want 4", first.ID, len(msgs))
	}
	if n := len(h.audit("kind=declaration.accepted")); n != 2 {
		t.Fatalf("%d declaration.accepted entries, want 2", n)
	}
}

// mappedBy lists the agencies whose submit mapping reads source, from the
// mapping files themselves.
func mappedBy(t *testing.T, source string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "mappings/*/submit.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "source: "+source) || strings.Contains(string(data), "|"+source) {
			out = append(out, filepath.Base(filepath.Dir(f)))
		}
	}
	slices.Sort(out)
	return out
}

// TestAmendAndCancel: each amendment sends replacements only to the
// agencies whose mapped content changed; a cancellation sends cancel
// messages referencing the latest ones.
func TestAmendAndCancel(t *testing.T) {
	h := start(t, nil)
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, nil))
	h.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool { return ev.Decision.Status == "CLEARED" })

	all := []string{"borderguard", "customs", "guangxi", "vehicleregistry"}
	tests := []struct {
		name   string
		source string // mapping source of the edited field
		edit   func(map[string]any)
		want   []string // agencies that get a replacement
	}{
		{"VN plate", "declaration.vehicle.plateVN", func(m map[string]any) {
			m["vehicle"].(map[string]any)["plateVN"] = "12C-67890"
		}, all},
		{"tare weight", "declaration.vehicle.tareWeightKg", func(m map[string]any) {
			m["vehicle"].(map[string]any)["plateVN"] = "12C-67890"
			m["vehicle"].(map[string]any)["tareWeightKg"] = 14300
		}, []string{"vehicleregistry"}},
		{"trader address, mapped by nobody", "declaration.trader.address", func(m map[string]any) {
			m["vehicle"].(map[string]any)["plateVN"] = "12C-67890"
			m["vehicle"].(map[string]any)["tareWeightKg"] = 14300
			m["trader"].(map[string]any)["address"] = "Số 14 Đường Bà Triệu, TP Lạng Sơn"
		}, nil},
		// Each side classifies in its own tariff: a change to China's
		// 10-digit line concerns the Chinese side only, to Viet Nam's
		// 8-digit line customs only.
		{"CN tariff line", "item.hsCodeCN", func(m map[string]any) {
			m["vehicle"].(map[string]any)["plateVN"] = "12C-67890"
			m["vehicle"].(map[string]any)["tareWeightKg"] = 14300
			m["trader"].(map[string]any)["address"] = "Số 14 Đường Bà Triệu, TP Lạng Sơn"
			m["consignments"].([]any)[0].(map[string]any)["hsCodeCN"] = "0810600090"
		}, []string{"guangxi"}},
		{"VN tariff line", "item.hsCodeVN", func(m map[string]any) {
			m["vehicle"].(map[string]any)["plateVN"] = "12C-67890"
			m["vehicle"].(map[string]any)["tareWeightKg"] = 14300
			m["trader"].(map[string]any)["address"] = "Số 14 Đường Bà Triệu, TP Lạng Sơn"
			m["consignments"].([]any)[0].(map[string]any)["hsCodeCN"] = "0810600090"
			m["consignments"].([]any)[0].(map[string]any)["hsCodeVN"] = "08106090"
		}, []string{"customs"}},
	}
	version := 1
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The expectation agrees with the mapping files of the agencies
			// this crossing goes to.
			mapped := slices.DeleteFunc(mappedBy(t, tc.source), func(a string) bool { return !slices.Contains(all, a) })
			if len(mapped) == 0 {
				mapped = nil
			}
			if !slices.Equal(mapped, tc.want) {
				t.Fatalf("mappings reading %s: %v, the test expects %v", tc.source, mapped, tc.want)
			}
			before := h.view(v.ID)
			latest := map[string]views.MessageView{}
			for _, m := range before.Messages {
				if m.State != "superseded" {
					latest[m.Agency] = m
				}
			}
			resp, data := h.do("PUT", "/v1/declarations/"+v.ID, traderToken, sample(t, tc.edit), "application/json")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("amend: HTTP %d: %s", resp.StatusCode, data)
			}
			version++
			after := decodeJSON[views.DeclarationView](t, data)
			if after.Version != version {
				t.Fatalf("version %d, want %d", after.Version, version)
			}
			var got []string
			for _, m := range after.Messages {
				if m.Version != version {
					continue
				}
				got = append(got, m.Agency)
				prev := latest[m.Agency]
				if m.Kind != "amend" || m.PreviousID != prev.ID {
					t.Errorf("%s: kind %s previous %s, want amend replacing %s", m.Agency, m.Kind, m.PreviousID, prev.ID)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("replacements to %v, want %v", got, tc.want)
			}
			for _, m := range after.Messages {
				if prev, ok := latest[m.Agency]; ok && m.ID == prev.ID {
					wantState := "acked"
					if slices.Contains(tc.want, m.Agency) {
						wantState = "superseded"
					}
					if string(m.State) != wantState {
						t.Errorf("%s previous message %s, want %s", m.Agency, m.State, wantState)
					}
				}
			}
			if len(tc.want) == 0 {
				// Nothing to ask anybody: the answers given still clear the truck.
				if after.Decision.Status != "CLEARED" {
					t.Fatalf("decision %s after an amendment no agency sees", after.Decision.Status)
				}
				return
			}
			h.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool {
				return ev.Version == version && ev.Decision.Status == "CLEARED"
			})
		})
	}

	before := h.view(v.ID)
	latest := map[string]string{}
	for _, m := range before.Messages {
		if m.State != "superseded" {
			latest[m.Agency] = m.ID
		}
	}
	resp, data := h.do("POST", "/v1/declarations/"+v.ID+"/cancel", traderToken, []byte(`{"reason":"truck broke down"}`), "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cancel: HTTP %d: %s", resp.StatusCode, data)
	}
	after := decodeJSON[views.DeclarationView](t, data)
	if after.Status != "cancelled" || after.Decision.Status != "CANCELLED" {
		t.Fatalf("after cancel: status %s decision %s", after.Status, after.Decision.Status)
	}
	var cancelled []string
	for _, m := range after.Messages {
		if m.Kind != "cancel" {
			continue
		}
		cancelled = append(cancelled, m.Agency)
		if m.PreviousID != latest[m.Agency] {
			t.Errorf("%s cancel references %s, want the latest message %s", m.Agency, m.PreviousID, latest[m.Agency])
		}
	}
	slices.Sort(cancelled)
	if !slices.Equal(cancelled, all) {
		t.Fatalf("cancel messages to %v, want %v", cancelled, all)
	}
	// Cancelling again changes nothing.
	resp, data = h.do("POST", "/v1/declarations/"+v.ID+"/cancel", traderToken, nil, "")
	if again := decodeJSON[views.DeclarationView](t, data); resp.StatusCode != http.StatusOK || len(again.Messages) != len(after.Messages) {
		t.Fatalf("second cancel: HTTP %d, %d messages (was %d)", resp.StatusCode, len(again.Messages), len(after.Messages))
	}
}

// TestIdempotentSubmitConcurrent: retries racing each other still create
// one declaration, and every caller learns its id.
func TestIdempotentSubmitConcurrent(t *testing.T) {
	h := start(t, nil)
	body := sample(t, nil)
	const n = 8
	type answer struct {
		status int
		id     string
	}
	answers := make(chan answer, n)
	var ready sync.WaitGroup
	ready.Add(n)
	gate := make(chan struct{})
	for range n {
		go func() {
			ready.Done()
			<-gate
			req, _ := http.NewRequest("POST", h.url+"/v1/declarations", strings.NewReader(string(body)))
			req.Header.Set("Authorization", "Bearer "+traderToken)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "race-1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- answer{}
				return
			}
			defer resp.Body.Close()
			var v struct{ ID string }
			_ = json.NewDecoder(resp.Body).Decode(&v)
			answers <- answer{resp.StatusCode, v.ID}
		}()
	}
	ready.Wait()
	close(gate)
	created, ids := 0, map[string]bool{}
	for range n {
		a := <-answers
		switch a.status {
		case http.StatusCreated:
			created++
		case http.StatusOK:
		default:
			t.Errorf("a racing retry got HTTP %d", a.status)
		}
		ids[a.id] = true
	}
	if created != 1 || len(ids) != 1 {
		t.Fatalf("%d created, ids %v; want one declaration for all", created, ids)
	}
}
