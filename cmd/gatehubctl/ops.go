package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gatehub/gatehub/adapters/gatedevice"
	"github.com/gatehub/gatehub/internal/auth"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/views"
)

// hubCmd marks a command that calls a running hub: its help names the
// environment it reads.
func hubCmd(c *cobra.Command) *cobra.Command {
	c.Annotations = envAnnotation(hubEnvHelp)
	return c
}

func gatesValidateCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "validate FILE.yaml [FILE.yaml ...]",
		Short: "Validate gate files offline; every error with file:line:col",
		Long: `Validate gate files offline. Every error is reported with file:line:col; files that are
valid one by one are also checked together (duplicate gate codes, shared device credentials).
Exit status 2 when any file is invalid.`,
		Args: cobra.MinimumNArgs(1),
	}
	c.RunE = func(c *cobra.Command, args []string) error {
		return gatesValidate(c.Context(), args, c.OutOrStdout())
	}
	return c
}

func gatesValidate(_ context.Context, args []string, out io.Writer) error {
	known, err := localAgencies()
	if err != nil {
		fmt.Fprintln(out, err)
		return exitError(exitProblems)
	}
	var gates []*gate.Gate
	failed := false
	for _, path := range args {
		g, err := gate.LoadFile(path, known)
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
		return exitError(exitProblems)
	}
	return nil
}

func gatesApplyCmd() *cobra.Command {
	c := hubCmd(&cobra.Command{
		Use:   "apply FILE.yaml",
		Short: "Load a gate file into the running hub without restart",
		Long: `Load a gate file into the running hub without restart. The file is validated locally
first (errors point at the file, exit status 2); the hub keeps its running configuration when it
refuses the file. Needs an admin token.`,
		Args: exactArgs("FILE.yaml"),
	})
	format := addOutputFlag(c)
	c.RunE = func(c *cobra.Command, args []string) error {
		ctx, out := c.Context(), c.OutOrStdout()
		data, err := os.ReadFile(args[0])
		if err != nil {
			return err
		}
		// Validate locally first: the error then points at the operator's file.
		known, err := localAgencies()
		if err != nil {
			return err
		}
		g, err := gate.Parse(args[0], data, known)
		if err != nil {
			fmt.Fprintln(out, err)
			return exitError(exitProblems)
		}
		var res json.RawMessage
		if err := newHubClient().call(ctx, "PUT", "/v1/admin/gates/"+url.PathEscape(g.Code), "application/yaml", data, &res); err != nil {
			return err
		}
		return printAnswer(out, *format, res, func(tw *tabwriter.Writer, v struct {
			Applied string `json:"applied"`
			Lanes   int    `json:"lanes"`
		}) {
			fmt.Fprintf(tw, "gate %s applied: %d lanes\n", v.Applied, v.Lanes)
		})
	}
	return c
}

func gatesListCmd() *cobra.Command {
	c := hubCmd(&cobra.Command{
		Use:   "list",
		Short: "List the gates the running hub knows",
		Args:  cobra.NoArgs,
	})
	format := addOutputFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		var res json.RawMessage
		if err := newHubClient().call(c.Context(), "GET", "/v1/gates", "", nil, &res); err != nil {
			return err
		}
		type lane struct {
			ID         string   `json:"id"`
			Direction  string   `json:"direction"`
			CargoKinds []string `json:"cargoKinds"`
			Devices    int      `json:"devices"`
		}
		return printAnswer(c.OutOrStdout(), *format, res, func(tw *tabwriter.Writer, v struct {
			Gates []struct {
				Code        string `json:"code"`
				Name        string `json:"name"`
				Province    string `json:"province"`
				Counterpart string `json:"counterpart"`
				Lanes       []lane `json:"lanes"`
			} `json:"gates"`
		}) {
			row(tw, "GATE", "NAME", "PROVINCE", "COUNTERPART", "LANE", "DIRECTION", "CARGO", "DEVICES")
			for _, g := range v.Gates {
				if len(g.Lanes) == 0 {
					row(tw, g.Code, g.Name, g.Province, g.Counterpart, "", "", "", "")
				}
				for _, l := range g.Lanes {
					row(tw, g.Code, g.Name, g.Province, g.Counterpart, l.ID, l.Direction, strings.Join(l.CargoKinds, ","), l.Devices)
				}
			}
		})
	}
	return c
}

var (
	outboxStates = message.StateNames()
)

// messagesTable prints outbox messages, one line each.
func messagesTable(tw *tabwriter.Writer, v struct {
	Messages []views.MessageView `json:"messages"`
}) {
	row(tw, "MESSAGE", "AGENCY", "KIND", "VERSION", "STATE", "ATTEMPTS", "NEXT ATTEMPT", "ACK DEADLINE", "OVERDUE", "LAST ERROR")
	for _, m := range v.Messages {
		row(tw, m.ID, m.Agency, m.Kind, m.Version, m.State, m.Attempts, m.NextAttemptAt, m.AckDeadline, m.Overdue, m.LastError)
	}
}

func outboxListCmd() *cobra.Command {
	c := hubCmd(&cobra.Command{
		Use:   "list",
		Short: "List outbound messages (--state, --agency, --declaration)",
		Args:  cobra.NoArgs,
	})
	fs := c.Flags()
	state := fs.String("state", "", strings.Join(outboxStates, " | "))
	agency := fs.String("agency", "", "agency code (deploy/agencies)")
	decl := fs.String("declaration", "", "declaration id")
	limit := fs.Int("limit", 100, "at most this many (the hub caps it at 1000)")
	format := addOutputFlag(c)
	_ = c.RegisterFlagCompletionFunc("state", fixedCompletion(outboxStates...))
	_ = c.RegisterFlagCompletionFunc("agency", agencyCompletion)
	c.RunE = func(c *cobra.Command, _ []string) error {
		q := url.Values{}
		for k, v := range map[string]string{"state": *state, "agency": *agency, "declaration": *decl} {
			if v != "" {
				q.Set(k, v)
			}
		}
		q.Set("limit", fmt.Sprint(*limit))
		var res json.RawMessage
		if err := newHubClient().call(c.Context(), "GET", "/v1/admin/outbox?"+q.Encode(), "", nil, &res); err != nil {
			return err
		}
		return printAnswer(c.OutOrStdout(), *format, res, messagesTable)
	}
	return c
}

func outboxOverdueCmd() *cobra.Command {
	c := hubCmd(&cobra.Command{
		Use:   "overdue",
		Short: "List messages whose agency ACK is overdue",
		Args:  cobra.NoArgs,
	})
	format := addOutputFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		var res json.RawMessage
		if err := newHubClient().call(c.Context(), "GET", "/v1/admin/overdue", "", nil, &res); err != nil {
			return err
		}
		return printAnswer(c.OutOrStdout(), *format, res, messagesTable)
	}
	return c
}

func outboxActionCmd(action string) *cobra.Command {
	short := map[string]string{
		"redrive": "Re-queue a dead or cancelled message",
		"cancel":  "Stop delivering a message",
	}[action]
	c := hubCmd(&cobra.Command{
		Use:   action + " MESSAGE_ID",
		Short: short,
		Args:  exactArgs("MESSAGE_ID"),
	})
	format := addOutputFlag(c)
	var agency *string
	var limit *int
	if action == "redrive" {
		// After an agency's outage its dead letters go back together, its
		// backoff cut short and its circuit closed.
		c.Use = "redrive MESSAGE_ID | redrive --agency AGENCY [--limit N]"
		c.Short = "Re-queue a dead or cancelled message, or every dead message of an agency"
		c.Args = func(c *cobra.Command, args []string) error {
			if *agency != "" {
				if len(args) != 0 {
					return usagef("redrive takes a MESSAGE_ID or --agency, not both")
				}
				return nil
			}
			return exactArgs("MESSAGE_ID")(c, args)
		}
		agency = c.Flags().String("agency", "", "redrive every dead message of this agency instead of one message")
		limit = c.Flags().Int("limit", 200, "with --agency: at most this many dead messages per call (1-1000)")
		_ = c.RegisterFlagCompletionFunc("agency", agencyCompletion)
	}
	c.RunE = func(c *cobra.Command, args []string) error {
		var res json.RawMessage
		if agency != nil && *agency != "" {
			path := "/v1/admin/agencies/" + url.PathEscape(*agency) + "/redrive?limit=" + fmt.Sprint(*limit)
			if err := newHubClient().call(c.Context(), "POST", path, "", nil, &res); err != nil {
				return err
			}
			return printJSON(c.OutOrStdout(), res)
		}
		if err := newHubClient().call(c.Context(), "POST", "/v1/admin/outbox/"+url.PathEscape(args[0])+"/"+action, "", nil, &res); err != nil {
			return err
		}
		return printAnswer(c.OutOrStdout(), *format, res, func(tw *tabwriter.Writer, m views.MessageView) {
			messagesTable(tw, struct {
				Messages []views.MessageView `json:"messages"`
			}{[]views.MessageView{m}})
		})
	}
	return c
}

func tokensHashCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "hash",
		Short: "Print the SHA-256 line of a bearer token, for tokens files and gate files",
		Long: `Print the SHA-256 hash of a bearer token, as tokens files and gate files store it.

The token is read from stdin (one line; typed at a terminal it is not echoed) or, with --env,
from an environment variable: never from the command line, where shell history and ps keep it.

  printf %s "$TOKEN" | gatehubctl tokens hash
  GATE_TOKEN=... gatehubctl tokens hash --env GATE_TOKEN`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("tokens hash reads the token from stdin or --env, not from the command line (shell history and ps keep arguments): printf %%s TOKEN | gatehubctl tokens hash")
			}
			return nil
		},
	}
	env := c.Flags().String("env", "", "read the token from this environment variable instead of stdin")
	c.RunE = func(c *cobra.Command, _ []string) error {
		token, err := readSecret(c, *env, "token")
		if err != nil {
			return err
		}
		fmt.Fprintln(c.OutOrStdout(), auth.HashToken(token))
		return nil
	}
	return c
}

func tokensNewCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "new",
		Short: "Make a random bearer token and print it with its SHA-256 line",
		Long: `Make a random bearer token (32 bytes from the system's CSPRNG, base64url) and print it on
the first line and its SHA-256 hash, for the tokens file or gate file, on the second. Hand the
token to its holder over a secure channel; the hub stores only the hash.`,
		Args: cobra.NoArgs,
	}
	c.RunE = func(c *cobra.Command, _ []string) error {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		token := base64.RawURLEncoding.EncodeToString(b[:])
		fmt.Fprintf(c.OutOrStdout(), "token:  %s\nsha256: %s\n", token, auth.HashToken(token))
		return nil
	}
	return c
}

// readSecret reads a secret from the named environment variable or from
// stdin: without echo at a terminal, else its first line.
func readSecret(c *cobra.Command, env, what string) (string, error) {
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", usagef("--env %s: the variable is not set", env)
		}
		return v, nil
	}
	in := c.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(c.ErrOrStderr(), "%s: ", what)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("read %s: %w", what, err)
		}
		return checkSecret(string(b), what)
	}
	line, err := bufio.NewReader(io.LimitReader(in, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s from stdin: %w", what, err)
	}
	return checkSecret(strings.TrimRight(line, "\r\n"), what)
}

func checkSecret(s, what string) (string, error) {
	if s == "" {
		return "", usagef("no %s on stdin", what)
	}
	return s, nil
}

func decisionVerifyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "verify --keys PUB.pem[,PUB2.pem] TOKEN",
		Short: "Verify a signed lane decision token offline (device vendors)",
		Long: `Verify a signed lane decision token offline, as a barrier controller does before it opens:
it must be signed by a trusted hub lane-decision key and not expired. Prints the decision;
exit status 2 when the token is invalid. The token is a signed statement, not a secret.`,
		Args: exactArgs("TOKEN"),
	}
	fs := c.Flags()
	keyFiles := fs.String("keys", "", "comma-separated PEM files of trusted hub lane-decision public keys (required)")
	at := fs.String("at", "", "verify as of this RFC 3339 time (default now)")
	c.RunE = func(c *cobra.Command, args []string) error {
		if *keyFiles == "" {
			return usagef("decision verify needs --keys PUB.pem[,PUB2.pem]")
		}
		return decisionVerify(*keyFiles, *at, args[0], c.OutOrStdout())
	}
	return c
}

// decisionVerify is what a barrier controller does before it opens: the
// token must be signed by a known hub key and not expired.
func decisionVerify(keyFiles, at, token string, out io.Writer) error {
	keys := map[string]ed25519.PublicKey{}
	for _, f := range strings.Split(keyFiles, ",") {
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
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return usagef("--at: %w", err)
		}
		now = t
	}
	d, err := gatedevice.Verify(keys, token, now)
	if err != nil {
		fmt.Fprintln(out, "INVALID:", err)
		return exitError(exitProblems)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}
