// Command gatehubctl is the operators', provinces' and auditors' tool:
// validating and applying gate configuration, managing the outbox, keys and
// tokens, verifying signed lane decisions, and exporting, verifying and
// replaying the audit log.
//
// Commands that talk to a running hub read GATEHUB_URL (default
// http://127.0.0.1:8080) and GATEHUB_TOKEN (a bearer token). Secrets are
// read from the environment or stdin, never from the command line, where
// shell history and ps would keep them.
//
// Exit status: see exitCodesHelp.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit statuses. Scripts tell "the check found problems" from "the check
// could not run" and "the hub said no" from "the hub is not there".
const (
	exitOK          = 0
	exitFailure     = 1  // the command could not do its job (file, store, unexpected answer)
	exitProblems    = 2  // it ran and found problems: verification, validation, differences
	exitRefused     = 3  // the hub answered 4xx: credentials, role, unknown id, invalid input
	exitUnavailable = 4  // the hub could not be reached or answered 5xx
	exitUsage       = 64 // wrong command line (sysexits EX_USAGE)
	exitInterrupted = 130
)

const exitCodesHelp = `Exit status:
  0    success
  1    failure: the command could not do its job (a file, the store, an unexpected answer)
  2    checked and found problems (verify, validate, replay differences, invalid decision)
  3    the hub refused the request (HTTP 4xx: credentials, role, unknown id, invalid input)
  4    the hub is unavailable (no connection, timeout, HTTP 5xx)
  64   usage error (unknown command or flag, missing argument)
  130  interrupted`

const hubEnvHelp = `Environment:
  GATEHUB_URL    the hub's base URL (default http://127.0.0.1:8080)
  GATEHUB_TOKEN  bearer token sent to the hub; kept out of argv on purpose`

// exitCoder is an error that decides the process's exit status.
type exitCoder interface{ ExitCode() int }

// exitError carries a specific exit status (e.g. 2 for "verification
// found problems") after the command has already told the user why on its
// output, so main prints nothing more.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitError) ExitCode() int { return int(e) }

// usageError is a wrong command line: exit 64, with a pointer to --help.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }
func (e usageError) ExitCode() int { return exitUsage }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := dispatch(ctx, os.Args[1:], os.Stdout)
	os.Exit(report(ctx, err, os.Stderr))
}

// report prints err (unless the command already explained itself) and
// returns the exit status for it.
func report(ctx context.Context, err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "gatehubctl: interrupted")
		return exitInterrupted
	}
	code := exitFailure
	var ec exitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	var silent exitError
	if errors.As(err, &silent) && err.Error() == silent.Error() {
		return code
	}
	fmt.Fprintln(stderr, "gatehubctl:", err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "Run 'gatehubctl --help' or 'gatehubctl COMMAND --help' for usage.")
	}
	return code
}

// dispatch runs one command line; out receives the command's output
// (help included), and the returned error decides the exit status.
func dispatch(ctx context.Context, args []string, out io.Writer) error {
	return execute(ctx, args, os.Stdin, out, os.Stderr)
}

// execute is dispatch with its streams named: in for secrets piped in,
// errOut for prompts.
func execute(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) error {
	root := rootCmd()
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetArgs(longFlagsWithOneDash(root, args))
	root.SetContext(ctx)
	markRunErrors(root)
	_, err := root.ExecuteC()
	if err == nil {
		return nil
	}
	var ran ranError
	if errors.As(err, &ran) {
		return ran.err
	}
	// Everything cobra itself refuses (unknown commands and flags, wrong
	// argument counts) is a usage error.
	return usageError{err}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "gatehubctl",
		Short: "Operate a gatehub: gates, outbox, keys, tokens, lane decisions, audit log",
		Long: `gatehubctl is the tool of the hub's operators, provinces and auditors: validating and
applying gate configuration, managing the outbox, keys and tokens, verifying signed lane
decisions, and exporting, verifying and replaying the audit log.

Flags are written --name; the one-dash form -name of earlier releases is still accepted.`,
		Annotations:   envAnnotation(hubEnvHelp + "\n\n" + exitCodesHelp),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noSubcommand,
		RunE:          func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	// Help ends with the environment a command reads (and, for the root,
	// the exit statuses), after the flags where people look for them.
	root.SetUsageTemplate(root.UsageTemplate() + `{{with index .Annotations "env"}}
{{.}}
{{end}}`)
	root.AddGroup(&cobra.Group{ID: "hub", Title: "Commands:"})
	root.SetHelpCommandGroupID("hub")
	root.SetCompletionCommandGroupID("hub")

	gates := group("gates", "Validate, apply and list gate configurations",
		gatesValidateCmd(), gatesApplyCmd(), gatesListCmd())
	outbox := group("outbox", "List, redrive and cancel outbound agency messages",
		outboxListCmd(), outboxOverdueCmd(), outboxActionCmd("redrive"), outboxActionCmd("cancel"))
	keys := group("keys", "Generate, import and rotate participant keys",
		keysGenCmd(), keysImportCmd(), keysRotateCmd())
	tokens := group("tokens", "Make and hash bearer tokens for tokens files and gate files",
		tokensNewCmd(), tokensHashCmd())
	decision := group("decision", "Verify signed lane decisions offline",
		decisionVerifyCmd())
	auditGroup := group("audit", "Export, archive, verify, search and replay the audit log",
		auditExportCmd(), auditArchiveCmd(), auditVerifyCmd(), auditFindCmd(), auditReplayCmd())
	conf := group("conformance", "Test an agency's endpoint against the hub's protocol before go-live",
		conformanceRunCmd())
	for _, c := range []*cobra.Command{gates, outbox, keys, tokens, decision, auditGroup, conf, versionCmd()} {
		c.GroupID = "hub"
		root.AddCommand(c)
	}
	return root
}

func envAnnotation(text string) map[string]string { return map[string]string{"env": text} }

// group is a command that only holds subcommands: alone it prints its
// help; with an unknown subcommand it is a usage error (cobra would print
// the help and exit 0, hiding a typo from scripts).
func group(name, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   name,
		Short: short,
		Args:  noSubcommand,
		RunE:  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(subs...)
	return c
}

func noSubcommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	c.SuggestionsMinimumDistance = 2
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usagef("%s", msg)
}

// exactArgs wants exactly the named positional arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("%s wants %s, got %d argument(s)", c.CommandPath(), strings.Join(names, " "), len(args))
		}
		return nil
	}
}

// ranError marks an error returned by a command's own RunE, as opposed to
// one cobra raised while parsing the command line.
type ranError struct{ err error }

func (e ranError) Error() string { return e.err.Error() }

func markRunErrors(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(c *cobra.Command, args []string) error {
			if err := run(c, args); err != nil {
				return ranError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markRunErrors(sub)
	}
}

// longFlagsWithOneDash rewrites -name to --name for the long flags of the
// command the line names, so scripts written for the flag package's
// one-dash style keep working. One-letter shorthands (-o, -h) are left as
// they are, and nothing after "--" is touched.
func longFlagsWithOneDash(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return args
	}
	cmd.InitDefaultHelpFlag()
	flags := pflag.NewFlagSet("", pflag.ContinueOnError)
	flags.AddFlagSet(cmd.Flags())
	flags.AddFlagSet(cmd.InheritedFlags())
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if len(name) > 1 && flags.Lookup(name) != nil {
			out[i] = "-" + a
		}
	}
	return out
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print gatehubctl's version and build",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprintln(c.OutOrStdout(), versionString())
			return nil
		},
	}
}

// versionString is what the build recorded: the module version for an
// installed release, the VCS revision for a build from a checkout.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "gatehubctl (no build information)"
	}
	v := bi.Main.Version
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = " (modified)"
			}
		}
	}
	line := "gatehubctl " + v
	if rev != "" {
		line += " revision " + rev + dirty
	}
	if at != "" {
		line += " built from a commit of " + at
	}
	return line + " " + bi.GoVersion
}
