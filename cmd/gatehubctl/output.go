package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// outputFormat is -o: a table for people (the default for lists), JSON
// for scripts (the hub's answer as it came, indented).
type outputFormat string

const (
	outputTable outputFormat = "table"
	outputJSON  outputFormat = "json"
)

func (f *outputFormat) String() string { return string(*f) }
func (f *outputFormat) Type() string   { return "table|json" }
func (f *outputFormat) Set(v string) error {
	switch outputFormat(v) {
	case outputTable, outputJSON:
		*f = outputFormat(v)
		return nil
	}
	return fmt.Errorf("want table or json, not %q", v)
}

// addOutputFlag adds -o/--output to a command that prints a hub answer.
func addOutputFlag(c *cobra.Command) *outputFormat {
	f := outputTable
	c.Flags().VarP(&f, "output", "o", "output format: table or json")
	_ = c.RegisterFlagCompletionFunc("output", fixedCompletion("table", "json"))
	return &f
}

// fixedCompletion completes a flag from a fixed list of values.
func fixedCompletion(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// printAnswer prints a hub answer as JSON, or decodes it into v and hands
// it to table.
func printAnswer[T any](out io.Writer, format outputFormat, raw json.RawMessage, table func(*tabwriter.Writer, T)) error {
	if format == outputJSON {
		return printJSON(out, raw)
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("read the hub's answer: %w", err)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	table(tw, v)
	return tw.Flush()
}

// row writes one tab-separated table row.
func row(tw io.Writer, cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = cell(c)
	}
	fmt.Fprintln(tw, strings.Join(s, "\t"))
}

func cell(v any) string {
	switch x := v.(type) {
	case time.Time:
		if x.IsZero() {
			return "-"
		}
		return x.UTC().Format("2006-01-02 15:04:05Z")
	case string:
		if x == "" {
			return "-"
		}
		// A table cell is one line; a long text is cut, -o json has it whole.
		x = strings.Join(strings.Fields(x), " ")
		if r := []rune(x); len(r) > 60 {
			x = string(r[:59]) + "…"
		}
		return x
	case bool:
		if x {
			return "yes"
		}
		return "-"
	}
	return fmt.Sprint(v)
}
