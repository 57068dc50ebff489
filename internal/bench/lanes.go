package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/fanout"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/lanes"
)

// BenchGate is the code of the generated gate the lane benchmark uses. It
// takes the place of Hữu Nghị's shipped file: a gate's declarations need
// its UN/LOCODE and customs office in the code lists (mappings/codes), and
// the bench measures lanes, not onboarding.
const BenchGate = "HUUNGHI"

// laneID is the id of the i-th lane of the bench gate, in the customs
// manifest's LaneID form (LA-0 … LA-99, LB-0 …).
func laneID(i int) string { return fmt.Sprintf("L%c-%d", 'A'+i/100, i%100) }

// laneToken is the bearer token of a device of the bench gate.
func laneToken(lane, kind string) string { return "bench-" + lane + "-" + kind }

// benchGateYAML is a gate of n export lanes, each with a camera, a
// weighbridge, a QR scanner and a barrier, at one checkpoint that needs
// all three readings and every agency: the busiest lane a gate file allows.
func benchGateYAML(n int) []byte {
	hash := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	var b strings.Builder
	b.WriteString(`code: ` + BenchGate + `
name: Bench
province: Lạng Sơn
counterpart: {name: Bench CN, nameCN: 测试, portCode: "7211"}
checkpoints:
  - id: GATE
    name: the one checkpoint
    direction: export
    requires: {readings: [plate, weight, qr], agencies: all}
lanes:
`)
	for i := range n {
		l := laneID(i)
		fmt.Fprintf(&b, "  - id: %s\n    checkpoint: GATE\n    direction: export\n    cargoKinds: [general, perishable]\n    devices:\n", l)
		for _, d := range [][2]string{{"camera", "plate-camera"}, {"scale", "weighbridge"}, {"qr", "qr-scanner"}, {"barrier", "barrier"}} {
			fmt.Fprintf(&b, "      - {id: %s-%s, kind: %s, tokenSHA256: %s}\n", l, d[0], d[1], hash(laneToken(l, d[0])))
		}
	}
	b.WriteString(`policy:
  rules:
    - direction: export
      agencies: [customs, borderguard, vehicleregistry, guangxi]
  ackDeadlines: {customs: 15m, borderguard: 10m, vehicleregistry: 10m, guangxi: 20m}
  weightTolerancePercent: 2
  minPlateConfidence: 0.85
  decisionTTL: 2m
`)
	return []byte(b.String())
}

// StartLaneHub starts a delivering hub (RoundTrip) whose gates are the
// shipped ones, Hữu Nghị replaced by the bench gate with n lanes.
func StartLaneHub(root, dataDir, databaseURL string, n int) (*Hub, error) {
	gates := filepath.Join(dataDir, "gates")
	if err := os.MkdirAll(gates, 0o755); err != nil {
		return nil, err
	}
	shipped, err := filepath.Glob(filepath.Join(root, "deploy/gates/*.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range shipped {
		if filepath.Base(f) == "huunghi.yaml" {
			continue // replaced by the bench gate
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(gates, filepath.Base(f)), data, 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(gates, "bench.yaml"), benchGateYAML(n), 0o644); err != nil {
		return nil, err
	}
	return startHub(root, dataDir, databaseURL, RoundTrip, gates)
}

// LaneResult is what RunLanes measured: the time from sending a device
// reading to its lane's event arriving on the fan-out bus, over every
// reading of every truck.
type LaneResult struct {
	Lanes, Trucks, Readings int
	Elapsed                 time.Duration
	P50, P99, Max           time.Duration
	Opens                   int // OPEN events seen: one per truck
}

// RunLanes keeps n lanes of the bench gate busy at once: on each lane, one
// truck after another (rounds per lane) is declared, awaited CLEARED, and
// read by camera, weighbridge and QR scanner; each reading is timed until
// the lane event it caused was published.
func (h *Hub) RunLanes(ctx context.Context, n, rounds int) (LaneResult, error) {
	var (
		mu    sync.Mutex
		lat   []time.Duration
		opens int
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ls, o, err := h.runLane(ctx, i, rounds)
			mu.Lock()
			defer mu.Unlock()
			lat, opens = append(lat, ls...), opens+o
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	r := LaneResult{Lanes: n, Trucks: n * rounds, Readings: len(lat), Elapsed: time.Since(start), Opens: opens,
		P50: Percentile(lat, 50), P99: Percentile(lat, 99), Max: Percentile(lat, 100)}
	return r, first
}

func (h *Hub) runLane(ctx context.Context, i, rounds int) ([]time.Duration, int, error) {
	lane := laneID(i)
	events, err := h.App.Bus().Subscribe(ctx, hub.LaneTopic(BenchGate, lane), "")
	if err != nil {
		return nil, 0, fmt.Errorf("subscribe lane %s: %w", lane, err)
	}
	var lat []time.Duration
	opens := 0
	for r := range rounds {
		truck := 1 + i + r*1000 // distinct plates across lanes and rounds
		id, err := h.submitAt(ctx, lane, truck)
		if err != nil {
			return lat, opens, err
		}
		if err := awaitEvent(ctx, events, func(ev fanout.Event) bool {
			var d decisions.DecisionEvent
			return ev.Type == "decision" && json.Unmarshal(ev.Data, &d) == nil && d.DeclarationID == id && d.Decision.Status == clearance.Cleared
		}); err != nil {
			return lat, opens, fmt.Errorf("lane %s: %s not cleared: %w", lane, id, err)
		}
		readings := []struct{ token, body string }{
			{laneToken(lane, "camera"), fmt.Sprintf(`{"kind":"plate","plate":%q,"confidence":0.97}`, Plate(truck))},
			{laneToken(lane, "scale"), `{"kind":"weight","weightKg":38500}`},
			{laneToken(lane, "qr"), fmt.Sprintf(`{"kind":"qr","code":%q}`, id)},
		}
		for k, rd := range readings {
			sent := time.Now()
			if err := h.post(ctx, rd.token, rd.body); err != nil {
				return lat, opens, fmt.Errorf("lane %s reading %d: %w", lane, k, err)
			}
			var action string
			if err := awaitEvent(ctx, events, func(ev fanout.Event) bool {
				var a lanes.Answer
				if ev.Type != lanes.EventLaneDecision || json.Unmarshal(ev.Data, &a) != nil || a.DeclarationID != id {
					return false
				}
				// The event of this reading: the vehicle holds k+1 readings.
				have := len(a.Readings.Weights) + len(a.Readings.Codes)
				if a.Readings.HasPlate {
					have++
				}
				if have <= k {
					return false
				}
				action = a.Action
				return true
			}); err != nil {
				return lat, opens, fmt.Errorf("lane %s reading %d: no event: %w", lane, k, err)
			}
			lat = append(lat, time.Since(sent))
			if action == clearance.Open {
				opens++
			}
		}
	}
	return lat, opens, nil
}

func awaitEvent(ctx context.Context, events <-chan fanout.Event, match func(fanout.Event) bool) error {
	guard := time.NewTimer(2 * time.Minute) // a guard against a hung run, not a synchronisation
	defer guard.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return fmt.Errorf("lane subscription ended")
			}
			if match(ev) {
				return nil
			}
		case <-guard.C:
			return fmt.Errorf("no event within 2 minutes")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// submitAt declares truck number truck for a lane of the bench gate.
func (h *Hub) submitAt(ctx context.Context, lane string, truck int) (string, error) {
	body := bytes.Replace(bytes.Replace(h.sample, []byte(Plate(0)), []byte(Plate(truck)), 1), []byte(PlateCN(0)), []byte(PlateCN(truck)), 1)
	body = bytes.Replace(body, []byte(`"gate":"HUUNGHI"`), []byte(`"gate":"`+BenchGate+`"`), 1)
	body = bytes.Replace(body, []byte(`"lane":"EXP-1"`), []byte(`"lane":"`+lane+`"`), 1)
	req, err := http.NewRequestWithContext(ctx, "POST", h.URL+"/v1/declarations", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+TraderToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.Client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var v struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(data, &v) != nil || v.ID == "" {
		return "", fmt.Errorf("submit at %s: HTTP %d: %s", lane, resp.StatusCode, bytes.TrimSpace(data))
	}
	return v.ID, nil
}

func (h *Hub) post(ctx context.Context, token, body string) error {
	req, err := http.NewRequestWithContext(ctx, "POST", h.URL+"/v1/devices/readings", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	return nil
}
