package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehub/gatehub/internal/agencies"
)

// agenciesDir is where the local commands (gates validate and apply, audit
// verify and replay) read the agency files: GATEHUB_AGENCIES_DIR, or the
// repository layout's deploy/agencies.
func agenciesDir() string {
	if d := os.Getenv("GATEHUB_AGENCIES_DIR"); d != "" {
		return d
	}
	return "deploy/agencies"
}

// localAgencies loads the agency files, for checks done before (or
// without) talking to a hub.
func localAgencies() (*agencies.Set, error) {
	set, err := agencies.LoadDir(agenciesDir())
	if err != nil {
		return nil, fmt.Errorf("agencies (GATEHUB_AGENCIES_DIR=%s): %w", agenciesDir(), err)
	}
	return set, nil
}

// agencyCompletion completes --agency with the local agency codes.
func agencyCompletion(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	set, err := agencies.LoadDir(agenciesDir())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return set.Strings(), cobra.ShellCompDirectiveNoFileComp
}
