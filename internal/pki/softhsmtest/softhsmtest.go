// Package softhsmtest makes throw-away SoftHSM2 tokens for tests and
// benchmarks of the PKCS#11 paths: the provider ministries' HSMs are
// driven through, without an HSM. Debian package: softhsm2.
package softhsmtest

import (
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Module is where Debian's softhsm2 installs the PKCS#11 provider.
const Module = "/usr/lib/softhsm/libsofthsm2.so"

// PIN is the user PIN of every token made here.
const PIN = "1234"

// ErrNoSoftHSM: softhsm2 is not installed.
var ErrNoSoftHSM = errors.New("SoftHSM2 not installed (apt-get install softhsm2)")

// Setup makes an empty token labelled label whose objects live under dir,
// points this process's SoftHSM2 at it (SOFTHSM2_CONF) and returns the
// PKCS#11 URI of key object in it.
func Setup(dir, label, object string) (string, error) {
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		return "", ErrNoSoftHSM
	}
	if _, err := os.Stat(Module); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoSoftHSM, err)
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return "", err
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"), 0o600); err != nil {
		return "", err
	}
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		return "", err
	}
	cmd := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", "5678")
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("softhsm2-util --init-token: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return URI(label, object), nil
}

// URI is the PKCS#11 URI of object in the token labelled label.
func URI(label, object string) string {
	return "pkcs11:token=" + label + ";object=" + object + "?module-path=" + Module + "&pin-value=" + PIN
}

// New is Setup for a test, in the test's temporary directory. Without
// SoftHSM2 the test fails under CI and is skipped elsewhere.
func New(t testing.TB, label, object string) string {
	t.Helper()
	uri, err := Setup(t.TempDir(), label, object)
	if errors.Is(err, ErrNoSoftHSM) {
		if testenv.CI() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Unsetenv("SOFTHSM2_CONF") })
	return uri
}
