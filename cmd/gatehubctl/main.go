// Command gatehubctl is the operators', provinces' and auditors' tool:
// validating and applying gate configuration, managing the outbox, keys and
// tokens, verifying signed lane decisions, and exporting, verifying and
// replaying the audit log.
//
// Commands that talk to a running hub read GATEHUB_URL (default
// http://127.0.0.1:8080) and GATEHUB_TOKEN (a bearer token).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, out io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"gates validate":  {"validate gate files offline; every error with file:line:col", gatesValidate},
		"gates apply":     {"load a gate file into the running hub without restart", gatesApply},
		"gates list":      {"list the gates the running hub knows", gatesList},
		"outbox list":     {"list outbound messages (-state, -agency, -declaration)", outboxList},
		"outbox overdue":  {"list messages whose agency ACK is overdue", outboxOverdue},
		"outbox redrive":  {"re-queue a dead or cancelled message: outbox redrive MESSAGE_ID", outboxRedrive},
		"outbox cancel":   {"stop delivering a message: outbox cancel MESSAGE_ID", outboxCancel},
		"keys gen":        {"generate a participant key pair and certificate", keysGen},
		"keys import":     {"add a participant certificate to a trust store", keysImport},
		"keys rotate":     {"replace a participant key, keeping the old certificate trusted for its window", keysRotate},
		"tokens hash":     {"print the SHA-256 line for a bearer token, for tokens files and gate files", tokensHash},
		"decision verify": {"verify a signed lane decision token offline (device vendors)", decisionVerify},
		"audit export":    {"write a self-contained archive of the audit log", auditExport},
		"audit archive":   {"archive the oldest entries, verify the archive, then remove them from the hot store", auditArchive},
		"audit verify":    {"verify an audit archive offline: chain, checkpoints, XML signatures", auditVerify},
		"audit find":      {"search the audit log of a running hub", auditFind},
		"audit replay":    {"rebuild state from an archive and diff it against a running hub or another archive", auditReplay},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := dispatch(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gatehubctl:", err)
		var exit exitError
		if errors.As(err, &exit) {
			os.Exit(int(exit))
		}
		os.Exit(1)
	}
}

// exitError carries a specific exit status (e.g. 2 for "verification
// found problems") distinct from usage or I/O failures.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func dispatch(ctx context.Context, args []string, out io.Writer) error {
	cmds := commands()
	if len(args) >= 2 {
		if c, ok := cmds[args[0]+" "+args[1]]; ok {
			return c.run(ctx, args[2:], out)
		}
	}
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: gatehubctl COMMAND [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-16s %s\n", n, cmds[n].summary)
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(out, b.String())
		return nil
	}
	return fmt.Errorf("unknown command %q\n\n%s", strings.Join(args, " "), b.String())
}
