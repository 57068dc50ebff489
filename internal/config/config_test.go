package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehub/gatehub/internal/agencies"
)

const shippedAgencies = "../../deploy/agencies"

// testEnv is env with the shipped agency files, which the tests run too
// far from for the default directory.
func testEnv(env map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := env[k]; ok || k != "GATEHUB_AGENCIES_DIR" {
			return v
		}
		return shippedAgencies
	}
}

// The simulators answer ACKs that clear trucks; a deployment must never fall
// back to them because an endpoint is missing.
func TestSimulatorsOnlyInTheEmbeddedDemo(t *testing.T) {
	set, err := agencies.LoadDir(shippedAgencies)
	if err != nil {
		t.Fatal(err)
	}
	allURLs := map[string]string{}
	for _, a := range set.Strings() {
		allURLs[EndpointEnv(a)] = "https://" + a + ".example.test/in"
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name           string
		env            map[string]string
		file           string
		wantSimulators bool
		wantErr        string
	}{
		{name: "nothing set: embedded demo", env: nil, wantSimulators: true},
		{name: "postgres, no endpoints: refused", env: with(nil, "GATEHUB_DATABASE_URL", "postgres://db/gatehub"),
			wantErr: "a deployment needs every agency's endpoint"},
		{name: "simulators off, no endpoints: refused", env: with(nil, "GATEHUB_SIMULATORS", "false"),
			wantErr: "no endpoint for agency customs"},
		{name: "simulators off in the file, no endpoints: refused", file: "simulators: false\n",
			wantErr: "no endpoint for agency customs"},
		{name: "one endpoint only: refused, not simulated", env: with(nil, "GATEHUB_AGENCY_CUSTOMS_URL", "https://c.example.test"),
			wantErr: "no endpoint for agency borderguard"},
		{name: "postgres with every endpoint", env: with(allURLs, "GATEHUB_DATABASE_URL", "postgres://db/gatehub"), wantSimulators: false},
		{name: "postgres with simulators asked for explicitly", env: with(nil, "GATEHUB_DATABASE_URL", "postgres://db/gatehub", "GATEHUB_SIMULATORS", "true"),
			wantSimulators: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = filepath.Join(t.TempDir(), "gatehub.yaml")
				if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := Load(path, testEnv(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load: err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Simulators != tc.wantSimulators {
				t.Fatalf("Simulators = %v, want %v", c.Simulators, tc.wantSimulators)
			}
		})
	}
}

// An endpoint in an agency file is a configured endpoint: no demo, and an
// agencyURLs key that names no agency file is an error.
func TestEndpointsFromAgencyFiles(t *testing.T) {
	dir := t.TempDir()
	files, err := filepath.Glob(filepath.Join(shippedAgencies, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		code := strings.TrimSuffix(filepath.Base(f), ".yaml")
		data = []byte(strings.Replace(string(data), "\nendpoint:\n", "\nendpoint:\n  url: https://"+code+".example.test/in\n", 1))
		if !strings.Contains(string(data), "url: https://") {
			data = append(data, []byte("endpoint:\n  url: https://"+code+".example.test/in\n")...)
		}
		if err := os.WriteFile(filepath.Join(dir, code+".yaml"), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"GATEHUB_AGENCIES_DIR": dir}
	c, err := Load("", testEnv(env))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Simulators {
		t.Fatal("agency files with endpoints still started the simulators")
	}
	urls, err := c.Endpoints(c.Agencies)
	if err != nil || urls["customs"] != "https://customs.example.test/in" {
		t.Fatalf("Endpoints = %v, %v", urls, err)
	}
	env["GATEHUB_AGENCY_CUSTOMS_URL"] = "https://override.example.test/in"
	if c, err = Load("", testEnv(env)); err != nil {
		t.Fatal(err)
	}
	if urls, _ := c.Endpoints(c.Agencies); urls["customs"] != "https://override.example.test/in" {
		t.Errorf("the environment does not override the file: %v", urls["customs"])
	}
	path := filepath.Join(t.TempDir(), "gatehub.yaml")
	if err := os.WriteFile(path, []byte("agencyURLs: {police: https://p.example.test}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, testEnv(env)); err == nil || !strings.Contains(err.Error(), `agencyURLs.police: unknown agency "police"`) {
		t.Errorf("unknown agency in agencyURLs: %v", err)
	}
	bad := map[string]string{"GATEHUB_AGENCIES_DIR": t.TempDir()}
	if _, err := Load("", testEnv(bad)); err == nil || !strings.Contains(err.Error(), "no *.yaml") {
		t.Errorf("empty agencies dir: %v", err)
	}
}
