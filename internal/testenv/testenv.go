// Package testenv says whether the tests run under continuous integration,
// where a missing service or tool (Postgres, Redis, xmllint, xmlsec1,
// promtool, chromium, softhsm2) must fail a test rather than skip it: a
// CI run that skipped the oracles would pass without proving anything.
package testenv

import (
	"os"
	"testing"
)

// CI reports whether the CI variable is set to anything but "", "0" or
// "false": CI systems set CI=true (or a name of their own), and a
// developer who exports CI=false means it.
func CI() bool {
	switch os.Getenv("CI") {
	case "", "0", "false":
		return false
	}
	return true
}

// Unavailable stops tb because something it needs is missing: a failure
// under CI, a skip elsewhere, both with why.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if CI() {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format, args...)
}
