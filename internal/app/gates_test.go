package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/auth"
)

const adminDevToken = "dev-admin"

// huunghiWith returns the shipped Hữu Nghị gate file after edit.
func huunghiWith(t *testing.T, edit func(string) string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "deploy/gates/huunghi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := edit(string(raw))
	if out == string(raw) {
		t.Fatal("the edit changed nothing: the shipped gate file no longer has the text it expects")
	}
	return []byte(out)
}

// exp3 is a new lane with its own devices, inserted before the policy.
func exp3(id string) func(string) string {
	return func(s string) string {
		lane := fmt.Sprintf(`  - id: %s
    checkpoint: B2
    direction: export
    cargoKinds: [general]
    devices:
      - id: EXP-3-barrier
        kind: barrier
        tokenSHA256: %s
      - id: EXP-3-camera
        kind: plate-camera
        tokenSHA256: %s
policy:
`, id, auth.HashToken("test-HUUNGHI-EXP-3-barrier"), auth.HashToken("test-HUUNGHI-EXP-3-camera"))
		return strings.Replace(s, "policy:\n", lane, 1)
	}
}

func tolerance(pct string) func(string) string {
	return func(s string) string {
		return strings.Replace(s, "weightTolerancePercent: 2\n", "weightTolerancePercent: "+pct+"\n", 1)
	}
}

func chain(edits ...func(string) string) func(string) string {
	return func(s string) string {
		for _, e := range edits {
			s = e(s)
		}
		return s
	}
}

// traffic submits declarations and sends device readings on other lanes
// until stop closes, and reports every answer the hub should never give.
func traffic(in *instance, stop <-chan struct{}) (wait func() []string) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		bad  []string
		post = func(path, token string, body []byte) {
			req, _ := http.NewRequest("POST", in.url+path, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				mu.Lock()
				bad = append(bad, path+": "+err.Error())
				mu.Unlock()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%s: HTTP %d", path, resp.StatusCode))
				mu.Unlock()
			}
		}
	)
	raw, _ := os.ReadFile(filepath.Join(repoRoot, "conformance-tests/declarations/huu-nghi-export.json"))
	for w := range 3 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				serial := fmt.Sprintf("6%d%03d", w, i%1000)
				var m map[string]any
				_ = json.Unmarshal(raw, &m)
				withSerial(serial)(m)
				body, _ := json.Marshal(m)
				post("/v1/declarations", traderToken, body)
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				post("/v1/devices/readings", "dev-HUUNGHI-EXP-2-camera", fmt.Appendf(nil, `{"kind":"plate","plate":"12C-6%d%03d","confidence":0.9}`, w, i%1000))
				post("/v1/devices/readings", "dev-HUUNGHI-IMP-1-scale", []byte(`{"kind":"weight","plate":"12C-77777","weightKg":20000}`))
			}
		}()
	}
	return func() []string {
		wg.Wait()
		return bad
	}
}

func TestGateConfigHotReloadUnderTraffic(t *testing.T) {
	h := launch(t, baseConfig(t), app.Options{})
	events, _ := h.laneStream(t, "HUUNGHI", "EXP-1", operatorToken, "")
	v := h.submit(sample(t, withSerial("50001")))
	next(t, events, "CLEARED", decisionFor(v.ID, "CLEARED"))

	// The truck is through B1 and stands at B2 with plate and QR read:
	// the weight decides. 39,500 kg against 38,500 declared: +2.6 %.
	if ans := h.reading(t, "dev-HUUNGHI-GATE-1-camera", `{"kind":"plate","plate":"12C-50001","confidence":0.97}`); ans.Action != "OPEN" {
		t.Fatalf("B1: %s %s", ans.Action, ans.ReasonEN)
	}
	h.reading(t, "dev-HUUNGHI-EXP-1-camera", `{"kind":"plate","plate":"12C-50001","confidence":0.97}`)
	h.reading(t, "dev-HUUNGHI-EXP-1-qr", `{"kind":"qr","code":"`+v.ID+`"}`)
	const heavy = `{"kind":"weight","plate":"12C-50001","weightKg":39500}`
	if ans := h.reading(t, "dev-HUUNGHI-EXP-1-scale", heavy); ans.Action != "KEEP-CLOSED" {
		t.Fatalf("before the change, +2.6%% with 2%% tolerance: %s", ans.Action)
	}

	stop := make(chan struct{})
	wait := traffic(h, stop)
	put := func(code string, body []byte) (*http.Response, []byte) {
		return h.call(t, "PUT", "/v1/admin/gates/"+code, adminDevToken, body, http.Header{"Content-Type": {"application/yaml"}})
	}
	valid := huunghiWith(t, chain(tolerance("5"), exp3("EXP-3")))
	resp, data := put("HUUNGHI", valid)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("apply a valid gate: HTTP %d: %s", resp.StatusCode, data)
	}

	// In force at once, without a restart.
	if ans := h.reading(t, "dev-HUUNGHI-EXP-1-scale", heavy); ans.Action != "OPEN" {
		t.Fatalf("after the change, +2.6%% with 5%% tolerance: %s %s", ans.Action, ans.ReasonEN)
	}
	if ans := h.reading(t, "test-HUUNGHI-EXP-3-camera", `{"kind":"plate","plate":"12C-99998","confidence":0.99}`); ans.Lane != "EXP-3" {
		t.Fatalf("new lane's camera answered for lane %q", ans.Lane)
	}
	h.laneStream(t, "HUUNGHI", "EXP-3", "test-HUUNGHI-EXP-3-barrier", "")

	// Invalid files are refused whole, with every error located, and the
	// configuration just applied stays in force.
	lineRef := regexp.MustCompile(`^HUUNGHI\.yaml:\d+:\d+: `)
	refusals := []struct {
		name, code string
		body       []byte
		want       []string // one error each, in this order
	}{
		{"duplicate lane and unknown agency", "HUUNGHI",
			huunghiWith(t, chain(exp3("EXP-1"), func(s string) string {
				return strings.Replace(s, "agencies: [borderguard, vehicleregistry]\n", "agencies: [borderguard, police]\n", 1)
			})),
			[]string{`duplicate lane id "EXP-1"`, `unknown agency "police"`}},
		{"tolerance out of range", "HUUNGHI", huunghiWith(t, tolerance("75")), []string{"weightTolerancePercent"}},
		{"device token of another gate", "HUUNGHI",
			huunghiWith(t, func(s string) string {
				return strings.Replace(s, auth.HashToken("dev-HUUNGHI-EXP-1-display"), auth.HashToken("dev-TANTHANH-EXP-1-barrier"), 1)
			}),
			[]string{"shares its token"}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			resp, data := put(tc.code, tc.body)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("HTTP %d: %s", resp.StatusCode, data)
			}
			var p struct {
				Errors []struct{ Detail string } `json:"errors"`
			}
			if err := json.Unmarshal(data, &p); err != nil {
				t.Fatal(err)
			}
			if len(p.Errors) != len(tc.want) {
				t.Fatalf("%d errors, want %d: %s", len(p.Errors), len(tc.want), data)
			}
			for i, want := range tc.want {
				if !strings.Contains(p.Errors[i].Detail, want) {
					t.Errorf("error %d %q does not mention %q", i, p.Errors[i].Detail, want)
				}
				if !lineRef.MatchString(p.Errors[i].Detail) {
					t.Errorf("error %d %q has no file:line:col", i, p.Errors[i].Detail)
				}
			}
		})
	}
	close(stop)
	if bad := wait(); len(bad) > 0 {
		t.Fatalf("traffic during the reload got %d bad answers, e.g. %v", len(bad), bad[:min(len(bad), 5)])
	}

	if ans := h.reading(t, "dev-HUUNGHI-EXP-1-scale", heavy); ans.Action != "OPEN" {
		t.Fatalf("a refused file changed the tolerance: %s", ans.Action)
	}
	if ans := h.reading(t, "test-HUUNGHI-EXP-3-camera", `{"kind":"plate","plate":"12C-99998","confidence":0.99}`); ans.Lane != "EXP-3" {
		t.Fatalf("a refused file removed lane EXP-3")
	}
	if resp, _ := h.call(t, "GET", "/v1/gates/HUUNGHI/lanes/EXP-3/events", "dev-HUUNGHI-EXP-1-barrier", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("EXP-1's barrier on EXP-3's stream: HTTP %d", resp.StatusCode)
	}
	if n := h.auditCount(t, "config.apply"); n != 1 {
		t.Errorf("%d config.apply entries, want 1", n)
	}
	if n := h.auditCount(t, "config.refused"); n != len(refusals) {
		t.Errorf("%d config.refused entries, want %d", n, len(refusals))
	}
}
