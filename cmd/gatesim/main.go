// Command gatesim plays the devices of one lane against a hub, for demos
// and manual tests: the barrier subscribes to the lane's live stream, the
// plate camera reads the truck's plate, the weighbridge weighs it, and the
// barrier acts only on the signed lane decision it verified itself with
// the hub's lane-decision public key.
//
//	gatesim -hub http://127.0.0.1:8080 -gate HUUNGHI -lane EXP-1 \
//	        -plate 12C-12345 -weight 38600 -keys data/keys/lane-decision-ed25519.pub.pem
//
// Device tokens default to the development tokens dev-<GATE>-<LANE>-camera,
// -scale and -barrier. Exit status: 0 the barrier opens, 3 it stays closed,
// 1 something failed (including a decision that does not verify), 2 usage.
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
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gatehub/gatehub/adapters/gatedevice"
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
	hub, gate, lane, plate                string
	weight, confidence                    float64
	cameraToken, scaleToken, barrierToken string
	keys                                  string
	timeout                               time.Duration
	client                                *http.Client
	now                                   func() time.Time // the barrier's clock
	stdout                                io.Writer
	keyring                               map[string]ed25519.PublicKey
}

// run is main without the process: tests call it with the hub's clock.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) int {
	fs := flag.NewFlagSet("gatesim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{now: now, stdout: stdout, client: &http.Client{}}
	fs.StringVar(&o.hub, "hub", "http://127.0.0.1:8080", "hub base URL")
	fs.StringVar(&o.gate, "gate", "HUUNGHI", "gate code")
	fs.StringVar(&o.lane, "lane", "EXP-1", "lane id")
	fs.StringVar(&o.plate, "plate", "", "plate the camera reads (required)")
	fs.Float64Var(&o.weight, "weight", 0, "weight the weighbridge measures in kg (0: no weighing)")
	fs.Float64Var(&o.confidence, "confidence", 0.97, "plate camera confidence, 0..1")
	fs.StringVar(&o.cameraToken, "camera-token", "", "plate camera token (default dev-GATE-LANE-camera)")
	fs.StringVar(&o.scaleToken, "scale-token", "", "weighbridge token (default dev-GATE-LANE-scale)")
	fs.StringVar(&o.barrierToken, "barrier-token", "", "barrier token (default dev-GATE-LANE-barrier)")
	fs.StringVar(&o.keys, "keys", filepath.Join("data", "keys", gatedevice.PublicKeyFile),
		"comma-separated PEM files of the hub's lane-decision public keys")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up waiting for the barrier's decision after this long")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if o.plate == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: gatesim -plate PLATE [-weight KG] [-hub URL] [-gate G] [-lane L] [-keys PUB.pem] [-camera-token T] [-scale-token T] [-barrier-token T]")
		return exitUsage
	}
	dev := "dev-" + o.gate + "-" + o.lane + "-"
	for dst, kind := range map[*string]string{&o.cameraToken: "camera", &o.scaleToken: "scale", &o.barrierToken: "barrier"} {
		if *dst == "" {
			*dst = dev + kind
		}
	}
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
	Action        string `json:"action"`
	ReasonEN      string `json:"reasonEN"`
	ReasonVI      string `json:"reasonVI"`
	Token         string `json:"token"`
}

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

	// The barrier listens first, so it cannot miss the decision.
	events, err := o.subscribe(ctx)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(o.stdout, "lane %s/%s: barrier listening on %s\n", o.gate, o.lane, o.hub)

	last, err := o.send(ctx, o.cameraToken, map[string]any{"kind": "plate", "plate": o.plate, "confidence": o.confidence})
	if err != nil {
		return "", fmt.Errorf("plate camera: %w", err)
	}
	fmt.Fprintf(o.stdout, "camera: read %s (confidence %.2f)\n", o.plate, o.confidence)
	if o.weight > 0 {
		if last, err = o.send(ctx, o.scaleToken, map[string]any{"kind": "weight", "plate": o.plate, "weightKg": o.weight}); err != nil {
			return "", fmt.Errorf("weighbridge: %w", err)
		}
		fmt.Fprintf(o.stdout, "weighbridge: %.0f kg\n", o.weight)
	}
	if last.Token == "" {
		// No declaration matched: nothing to sign, the barrier stays closed.
		o.show(gatedevice.ActionKeepClosed, "", 0, last.ReasonEN, last.ReasonVI, "unsigned: no declaration")
		return gatedevice.ActionKeepClosed, nil
	}

	// The barrier acts on what reached it over its own stream, after
	// verifying it; the answer to the devices only tells which one to await.
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
			if d.Gate != o.gate || d.Lane != o.lane {
				return "", fmt.Errorf("the barrier refuses a decision for %s/%s", d.Gate, d.Lane)
			}
			o.show(d.Action, d.DeclarationID, d.Version, d.ReasonEN, d.ReasonVI, "verified, key "+d.KeyID)
			return d.Action, nil
		}
	}
}

func (o *options) show(action, declID string, version int, en, vi, how string) {
	vn := map[string]string{gatedevice.ActionOpen: "MỞ", gatedevice.ActionKeepClosed: "GIỮ ĐÓNG"}[action]
	fmt.Fprintf(o.stdout, "barrier: %s / barie: %s (%s)\n", action, vn, how)
	if declID != "" {
		fmt.Fprintf(o.stdout, "  declaration %s v%d, plate %s\n", declID, version, o.plate)
	}
	if en == "" && action == gatedevice.ActionOpen {
		en, vi = "cleared, proceed", "đã thông quan, cho xe qua"
	}
	fmt.Fprintf(o.stdout, "  EN: %s\n  VI: %s\n", en, vi)
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
func (o *options) subscribe(ctx context.Context) (<-chan laneAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", o.hub+"/v1/gates/"+o.gate+"/lanes/"+o.lane+"/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+o.barrierToken)
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
