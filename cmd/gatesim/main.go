// Command gatesim plays the devices of a gate against a hub, for demos and
// manual tests: one truck's whole crossing through the checkpoints the gate
// file lists for its direction (at Hữu Nghị: B1 gate-in → B2 weighbridge →
// B0 border marker). At each checkpoint the barrier subscribes to its
// lane's live stream, the devices the checkpoint requires read the truck
// (plate camera, weighbridge, QR scanner) and the barrier acts only on a
// signed lane decision it verified itself with the hub's lane-decision
// public key and checked is for its own gate, checkpoint and lane and the
// plate its camera read.
//
//	gatesim -hub http://127.0.0.1:8080 -gatefile deploy/gates/huunghi.yaml \
//	        -plate 12C-12345 -weight 38600 -keys data/keys/lane-decision-ed25519.pub.pem
//
// The QR code is the declaration id printed on the trader's paper; without
// -qr gatesim asks the hub (GET /v1/decisions, with the camera's token) for
// the declaration of the plate. Device tokens are the development tokens
// dev-<GATE>-<device id>. Exit status: 0 the truck exited, 3 a barrier
// stayed closed, 1 something failed (including a decision that does not
// verify), 2 usage.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gatehub/gatehub/adapters/gatedevice"
	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/gate"
)

// Exit statuses.
const (
	exitOpen   = 0
	exitFailed = 1
	exitUsage  = 2
	exitClosed = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, time.Now)
	stop()
	os.Exit(code)
}

type options struct {
	hub, gateFile, agenciesDir, direction, plate, trailer, qr, only string
	weight, confidence                                              float64
	tokenPrefix                                                     string
	keys                                                            string
	timeout                                                         time.Duration
	client                                                          *http.Client
	now                                                             func() time.Time // the barriers' clock
	stdout                                                          io.Writer
	keyring                                                         map[string]ed25519.PublicKey
	gate                                                            *gate.Gate
}

// run is main without the process: tests call it with the hub's clock.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) int {
	fs := flag.NewFlagSet("gatesim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{now: now, stdout: stdout, client: &http.Client{}}
	fs.StringVar(&o.hub, "hub", "http://127.0.0.1:8080", "hub base URL")
	fs.StringVar(&o.gateFile, "gatefile", filepath.Join("deploy", "gates", "huunghi.yaml"), "the gate file whose checkpoints the truck passes")
	fs.StringVar(&o.agenciesDir, "agencies", filepath.Join("deploy", "agencies"), "the agency files the gate file names")
	fs.StringVar(&o.direction, "direction", "export", "the truck's direction: export, import or transit")
	fs.StringVar(&o.only, "checkpoint", "", "play only this checkpoint (default: the whole route)")
	fs.StringVar(&o.plate, "plate", "", "plate the cameras read (required)")
	fs.StringVar(&o.trailer, "trailer", "", "trailer plate the cameras read (default: none read)")
	fs.Float64Var(&o.weight, "weight", 0, "weight the weighbridges measure in kg (0: no weighing)")
	fs.Float64Var(&o.confidence, "confidence", 0.97, "plate camera confidence, 0..1")
	fs.StringVar(&o.qr, "qr", "", "declaration id on the truck's QR code (default: the hub's declaration of the plate)")
	fs.StringVar(&o.tokenPrefix, "token-prefix", "dev-", "device tokens are PREFIX<GATE>-<device id>")
	fs.StringVar(&o.keys, "keys", filepath.Join("data", "keys", gatedevice.PublicKeyFile),
		"comma-separated PEM files of the hub's lane-decision public keys")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up waiting for a barrier's decision after this long")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if o.plate == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: gatesim -plate PLATE [-weight KG] [-qr DECLARATION] [-trailer PLATE] [-gatefile FILE] [-direction D] [-checkpoint ID] [-hub URL] [-keys PUB.pem]")
		return exitUsage
	}
	known, err := agencies.LoadDir(o.agenciesDir)
	if err != nil {
		fmt.Fprintln(stderr, "gatesim:", err)
		return exitUsage
	}
	g, err := gate.LoadFile(o.gateFile, known)
	if err != nil {
		fmt.Fprintln(stderr, "gatesim:", err)
		return exitUsage
	}
	o.gate = g
	o.hub = strings.TrimSuffix(o.hub, "/")
	action, err := o.play(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "gatesim:", err)
		return exitFailed
	}
	if action == gatedevice.ActionOpen {
		return exitOpen
	}
	return exitClosed
}

// laneAnswer is the part of the hub's answer the devices use.
type laneAnswer struct {
	DeclarationID string `json:"declarationId"`
	Vehicle       int64  `json:"vehicle"`
	Action        string `json:"action"`
	ReasonEN      string `json:"reasonEN"`
	ReasonVI      string `json:"reasonVI"`
	Token         string `json:"token"`
}

// station is one checkpoint's lane and the devices on it.
type station struct {
	checkpoint gate.Checkpoint
	lane       *gate.Lane
	devices    map[string]string // device kind → device id
}

func (o *options) route() ([]station, error) {
	var out []station
	for _, cp := range o.gate.Route(o.direction) {
		if o.only != "" && cp.ID != o.only {
			continue
		}
		st := station{checkpoint: cp, devices: map[string]string{}}
		for i := range o.gate.Lanes {
			l := &o.gate.Lanes[i]
			if at, ok := o.gate.CheckpointOf(l); ok && at.ID == cp.ID && l.Direction == o.direction {
				st.lane = l
				break
			}
		}
		if st.lane == nil {
			return nil, fmt.Errorf("checkpoint %s has no %s lane", cp.ID, o.direction)
		}
		for _, d := range st.lane.Devices {
			if _, seen := st.devices[d.Kind]; !seen {
				st.devices[d.Kind] = d.ID
			}
		}
		out = append(out, st)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("gate %s has no %s checkpoint %s", o.gate.Code, o.direction, o.only)
	}
	return out, nil
}

func (o *options) token(device string) string { return o.tokenPrefix + o.gate.Code + "-" + device }

func (o *options) play(ctx context.Context) (string, error) {
	o.keyring = map[string]ed25519.PublicKey{}
	for _, f := range strings.Split(o.keys, ",") {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("lane decision key: %w", err)
		}
		pub, err := gatedevice.ParsePublicKeyPEM(data)
		if err != nil {
			return "", fmt.Errorf("lane decision key %s: %w", f, err)
		}
		o.keyring[gatedevice.KeyID(pub)] = pub
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	stations, err := o.route()
	if err != nil {
		return "", err
	}
	var names []string
	for _, st := range stations {
		names = append(names, st.checkpoint.ID)
	}
	fmt.Fprintf(o.stdout, "gate %s, %s route: %s\n", o.gate.Code, o.direction, strings.Join(names, " → "))
	for i, st := range stations {
		action, err := o.checkpoint(ctx, st)
		if err != nil {
			return "", fmt.Errorf("checkpoint %s: %w", st.checkpoint.ID, err)
		}
		if action != gatedevice.ActionOpen {
			return action, nil
		}
		if i == len(stations)-1 && o.only == "" {
			fmt.Fprintf(o.stdout, "crossing complete: %s exited at %s / xe đã xuất cảnh tại %s\n", o.plate, st.checkpoint.ID, st.checkpoint.ID)
		}
	}
	return gatedevice.ActionOpen, nil
}

// checkpoint plays one checkpoint: the barrier listens, the required
// devices read, the barrier acts on the verified decision.
func (o *options) checkpoint(ctx context.Context, st station) (string, error) {
	cp, lane := st.checkpoint, st.lane
	barrierID, ok := st.devices["barrier"]
	if !ok {
		return "", fmt.Errorf("lane %s has no barrier", lane.ID)
	}
	fmt.Fprintf(o.stdout, "\n[%s] %s — lane %s, requires %s\n", cp.ID, cp.Name, lane.ID, strings.Join(cp.Readings, ", "))
	// The barrier listens first, so it cannot miss the decision.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := o.subscribe(ctx, lane.ID, o.token(barrierID))
	if err != nil {
		return "", err
	}
	var last laneAnswer
	read := func(kind, what string, reading map[string]any) error {
		dev, ok := st.devices[kind]
		if !ok {
			return fmt.Errorf("lane %s has no %s", lane.ID, kind)
		}
		if last.Vehicle > 0 {
			reading["vehicle"] = last.Vehicle
		}
		ans, err := o.send(ctx, o.token(dev), reading)
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		last = ans
		fmt.Fprintf(o.stdout, "  %s: %s → %s\n", kind, what, ans.Action)
		return nil
	}
	if slices.Contains(cp.Readings, "plate") || slices.Contains(cp.Readings, "trailer") {
		r := map[string]any{"kind": "plate", "plate": o.plate, "confidence": o.confidence}
		what := fmt.Sprintf("read %s (confidence %.2f)", o.plate, o.confidence)
		if o.trailer != "" {
			r["trailerPlate"], what = o.trailer, what+", trailer "+o.trailer
		}
		if err := read("plate-camera", what, r); err != nil {
			return "", err
		}
	}
	if slices.Contains(cp.Readings, "weight") && o.weight > 0 {
		if err := read("weighbridge", fmt.Sprintf("%.0f kg", o.weight), map[string]any{"kind": "weight", "plate": o.plate, "weightKg": o.weight}); err != nil {
			return "", err
		}
	}
	if slices.Contains(cp.Readings, "qr") {
		code := o.qr
		if code == "" {
			if code, err = o.lookup(ctx, st); err != nil {
				return "", err
			}
		}
		if code != "" {
			if err := read("qr-scanner", "scanned "+code, map[string]any{"kind": "qr", "code": code}); err != nil {
				return "", err
			}
		}
	}
	if last.Token == "" {
		// No declaration matched: nothing to sign, the barrier stays closed.
		o.show(gatedevice.ActionKeepClosed, "", 0, last.ReasonEN, last.ReasonVI, "unsigned: no declaration")
		return gatedevice.ActionKeepClosed, nil
	}
	// The barrier acts on what reached it over its own stream, after
	// verifying it; the answer to the devices only tells which one to await.
	me := gatedevice.Barrier{Gate: o.gate.Code, Checkpoint: cp.ID, Lane: lane.ID, Device: barrierID}
	for {
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no lane decision reached the barrier: %w", ctx.Err())
		case ev, ok := <-events:
			if !ok {
				return "", errors.New("the lane's event stream ended before the decision arrived")
			}
			if ev.Token != last.Token {
				continue
			}
			d, err := gatedevice.Verify(o.keyring, ev.Token, o.now())
			if err != nil {
				return "", fmt.Errorf("the barrier refuses the decision: %w", err)
			}
			if err := gatedevice.Check(d, me, declaration.NormalizePlate(o.plate)); err != nil {
				return "", fmt.Errorf("the barrier refuses the decision: %w", err)
			}
			o.show(d.Action, d.DeclarationID, d.Version, d.ReasonEN, d.ReasonVI, "verified, key "+d.KeyID)
			return d.Action, nil
		}
	}
}

// lookup stands for the paper QR code: the declaration of the plate at
// this gate, as the hub knows it.
func (o *options) lookup(ctx context.Context, st station) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", o.hub+"/v1/decisions?plate="+url.QueryEscape(o.plate), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+o.token(st.devices["plate-camera"]))
	resp, err := o.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("look up the QR code: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Decisions []struct {
			DeclarationID string `json:"declarationId"`
			Status        string `json:"status"`
		} `json:"decisions"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out) != nil {
		return "", fmt.Errorf("look up the QR code: HTTP %d", resp.StatusCode)
	}
	for _, d := range out.Decisions {
		if d.Status == "active" {
			return d.DeclarationID, nil
		}
	}
	if len(out.Decisions) > 0 {
		return out.Decisions[0].DeclarationID, nil
	}
	fmt.Fprintf(o.stdout, "  qr-scanner: no declaration of %s to scan\n", o.plate)
	return "", nil
}

func (o *options) show(action, declID string, version int, en, vi, how string) {
	vn := map[string]string{gatedevice.ActionOpen: "MỞ", gatedevice.ActionKeepClosed: "GIỮ ĐÓNG"}[action]
	fmt.Fprintf(o.stdout, "  barrier: %s / barie: %s (%s)\n", action, vn, how)
	if declID != "" {
		fmt.Fprintf(o.stdout, "    declaration %s v%d, plate %s\n", declID, version, o.plate)
	}
	if en == "" && action == gatedevice.ActionOpen {
		en, vi = "cleared, proceed", "đã thông quan, cho xe qua"
	}
	fmt.Fprintf(o.stdout, "    EN: %s\n    VI: %s\n", en, vi)
}

func (o *options) send(ctx context.Context, token string, reading map[string]any) (laneAnswer, error) {
	body, _ := json.Marshal(reading)
	req, err := http.NewRequestWithContext(ctx, "POST", o.hub+"/v1/devices/readings", bytes.NewReader(body))
	if err != nil {
		return laneAnswer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := o.client.Do(req)
	if err != nil {
		return laneAnswer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return laneAnswer{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return laneAnswer{}, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	var ans laneAnswer
	if err := json.Unmarshal(data, &ans); err != nil {
		return laneAnswer{}, fmt.Errorf("answer: %w", err)
	}
	return ans, nil
}

// subscribe opens the lane's stream as the barrier and returns once the hub
// confirmed the subscription (": open"); lane decisions follow on the channel.
func (o *options) subscribe(ctx context.Context, lane, token string) (<-chan laneAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", o.hub+"/v1/gates/"+o.gate.Code+"/lanes/"+lane+"/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("barrier: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("barrier: lane stream: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() || sc.Text() != ": open" {
		resp.Body.Close()
		return nil, errors.New("barrier: the lane stream did not open")
	}
	out := make(chan laneAnswer, 16)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				typ = ""
			case strings.HasPrefix(line, "event: "):
				typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && typ == "lane-decision":
				var a laneAnswer
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &a) == nil {
					select {
					case out <- a:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}()
	return out, nil
}
