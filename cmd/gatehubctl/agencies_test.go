package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain points the local commands at the repository's agency files: the
// tests run in cmd/gatehubctl, not at the repository root.
func TestMain(m *testing.M) {
	if os.Getenv("GATEHUB_AGENCIES_DIR") == "" {
		// Absolute: some tests run commands from other directories.
		dir, err := filepath.Abs("../../deploy/agencies")
		if err != nil {
			panic(err)
		}
		_ = os.Setenv("GATEHUB_AGENCIES_DIR", dir)
	}
	if os.Getenv("GATEHUB_SIMULATOR_RULES_DIR") == "" {
		dir, err := filepath.Abs("../../simulators")
		if err != nil {
			panic(err)
		}
		_ = os.Setenv("GATEHUB_SIMULATOR_RULES_DIR", dir)
	}
	os.Exit(m.Run())
}
