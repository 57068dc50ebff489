package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gatehub/gatehub/adapters/gatedevice"
	"github.com/gatehub/gatehub/internal/auth"
	"github.com/gatehub/gatehub/internal/gate"
)

func gatesValidate(_ context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("gates validate", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("usage: gatehubctl gates validate FILE.yaml [FILE.yaml ...]")
	}
	var gates []*gate.Gate
	failed := false
	for _, path := range fs.Args() {
		g, err := gate.LoadFile(path)
		if err != nil {
			failed = true
			fmt.Fprintln(out, err)
			continue
		}
		gates = append(gates, g)
		fmt.Fprintf(out, "%s: ok (gate %s, %d lanes)\n", path, g.Code, len(g.Lanes))
	}
	if !failed && len(gates) > 1 {
		// Files valid one by one may still clash (duplicate gate codes).
		if _, err := gate.NewSet(gates...); err != nil {
			fmt.Fprintln(out, err)
			failed = true
		}
	}
	if failed {
		return exitError(2)
	}
	return nil
}

func gatesApply(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("gates apply", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: gatehubctl gates apply FILE.yaml")
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	// Validate locally first: the error then points at the operator's file.
	g, err := gate.Parse(fs.Arg(0), data)
	if err != nil {
		fmt.Fprintln(out, err)
		return exitError(2)
	}
	var res json.RawMessage
	if err := newHubClient().call(ctx, "PUT", "/v1/admin/gates/"+url.PathEscape(g.Code), "application/yaml", data, &res); err != nil {
		return err
	}
	return printJSON(out, res)
}

func gatesList(ctx context.Context, _ []string, out io.Writer) error {
	var res json.RawMessage
	if err := newHubClient().call(ctx, "GET", "/v1/gates", "", nil, &res); err != nil {
		return err
	}
	return printJSON(out, res)
}

func outboxList(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("outbox list", flag.ContinueOnError)
	state := fs.String("state", "", "pending | sent | acked | nacked | dead | cancelled | superseded")
	agency := fs.String("agency", "", "customs | borderguard | vehicleregistry | guangxi")
	decl := fs.String("declaration", "", "declaration id")
	limit := fs.Int("limit", 100, "at most this many")
	if err := fs.Parse(args); err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"state": *state, "agency": *agency, "declaration": *decl} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", fmt.Sprint(*limit))
	var res json.RawMessage
	if err := newHubClient().call(ctx, "GET", "/v1/admin/outbox?"+q.Encode(), "", nil, &res); err != nil {
		return err
	}
	return printJSON(out, res)
}

func outboxOverdue(ctx context.Context, _ []string, out io.Writer) error {
	var res json.RawMessage
	if err := newHubClient().call(ctx, "GET", "/v1/admin/overdue", "", nil, &res); err != nil {
		return err
	}
	return printJSON(out, res)
}

func outboxAction(action string) func(context.Context, []string, io.Writer) error {
	return func(ctx context.Context, args []string, out io.Writer) error {
		if len(args) != 1 {
			return fmt.Errorf("usage: gatehubctl outbox %s MESSAGE_ID", action)
		}
		var res json.RawMessage
		if err := newHubClient().call(ctx, "POST", "/v1/admin/outbox/"+url.PathEscape(args[0])+"/"+action, "", nil, &res); err != nil {
			return err
		}
		return printJSON(out, res)
	}
}

var outboxCancel = outboxAction("cancel")

// outboxRedrive re-queues one message, or with -agency every dead message
// of that agency after its outage (its backoff cut short, its circuit
// closed): outbox redrive MESSAGE_ID | outbox redrive -agency AGENCY [-limit N].
func outboxRedrive(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("outbox redrive", flag.ContinueOnError)
	fs.SetOutput(out)
	agency := fs.String("agency", "", "redrive every dead message of this agency instead of one message")
	limit := fs.Int("limit", 200, "with -agency: at most this many dead messages per call (1-1000)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *agency == "" {
		return outboxAction("redrive")(ctx, fs.Args(), out)
	}
	if fs.NArg() != 0 {
		return errors.New("usage: gatehubctl outbox redrive -agency AGENCY [-limit N]")
	}
	var res json.RawMessage
	path := "/v1/admin/agencies/" + url.PathEscape(*agency) + "/redrive?limit=" + fmt.Sprint(*limit)
	if err := newHubClient().call(ctx, "POST", path, "", nil, &res); err != nil {
		return err
	}
	return printJSON(out, res)
}

func tokensHash(_ context.Context, args []string, out io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: gatehubctl tokens hash TOKEN")
	}
	fmt.Fprintln(out, auth.HashToken(args[0]))
	return nil
}

// decisionVerify is what a barrier controller does before it opens: the
// token must be signed by a known hub key and not expired.
func decisionVerify(_ context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("decision verify", flag.ContinueOnError)
	keyFiles := fs.String("keys", "", "comma-separated PEM files of trusted hub lane-decision public keys")
	at := fs.String("at", "", "verify as of this RFC 3339 time (default now)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *keyFiles == "" {
		return errors.New("usage: gatehubctl decision verify -keys PUB.pem[,PUB2.pem] TOKEN")
	}
	keys := map[string]ed25519.PublicKey{}
	for _, f := range strings.Split(*keyFiles, ",") {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		pub, err := gatedevice.ParsePublicKeyPEM(data)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		keys[gatedevice.KeyID(pub)] = pub
	}
	now := time.Now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return fmt.Errorf("-at: %w", err)
		}
		now = t
	}
	d, err := gatedevice.Verify(keys, fs.Arg(0), now)
	if err != nil {
		fmt.Fprintln(out, "INVALID:", err)
		return exitError(2)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}
