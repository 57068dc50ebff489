package deploy_test

import (
	"github.com/gatehub/gatehub/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// promtool returns the path of promtool (Debian package prometheus). Under
// CI a missing promtool fails the test: the alert rules would otherwise go
// unchecked.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if testenv.CI() {
			t.Fatal("promtool not found (apt-get install prometheus): alert rules and the Prometheus configuration cannot be checked")
		}
		t.Skip("promtool not found (apt-get install prometheus)")
	}
	return p
}

func runPromtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestPromtool runs the independent checks of the shipped monitoring
// configuration: the configuration as Prometheus loads it (rule files
// resolved relative to it, as in the container), the rules, and the unit
// tests of every alert.
func TestPromtool(t *testing.T) {
	t.Run("check config", func(t *testing.T) { runPromtool(t, "prometheus", "check", "config", "prometheus.yml") })
	t.Run("check rules", func(t *testing.T) { runPromtool(t, "prometheus", "check", "rules", "alerts.yml") })
	t.Run("test rules", func(t *testing.T) { runPromtool(t, "prometheus", "test", "rules", "alerts_test.yml") })
}

// TestAlertsDocumented: every alert pages someone who needs to know what to
// do, so every alert has a severity, a summary, a description and a
// runbook_url naming a section of docs/RUNBOOK.md, and a promtool test in
// which it fires.
func TestAlertsDocumented(t *testing.T) {
	runbook, err := os.ReadFile(filepath.Join("..", "docs", "RUNBOOK.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^##+ (.+)$`).FindAllStringSubmatch(string(runbook), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	fired := map[string]bool{}
	for _, tc := range l(documents(t, filepath.Join("prometheus", "alerts_test.yml"))[0]["tests"]) {
		for _, at := range l(dig(tc, "alert_rule_test")) {
			if len(l(dig(at, "exp_alerts"))) > 0 {
				fired[s(dig(at, "alertname"))] = true
			}
		}
	}
	const prefix = "https://github.com/gatehub/gatehub/blob/main/docs/RUNBOOK.md#"
	alerts := documents(t, filepath.Join("prometheus", "alerts.yml"))[0]
	for _, g := range l(alerts["groups"]) {
		for _, r := range l(dig(g, "rules")) {
			name := s(dig(r, "alert"))
			if name == "" {
				continue
			}
			t.Run(name, func(t *testing.T) {
				if sev := s(dig(r, "labels", "severity")); sev != "page" && sev != "warn" {
					t.Errorf("severity %q, want page or warn", sev)
				}
				for _, a := range []string{"summary", "description"} {
					if s(dig(r, "annotations", a)) == "" {
						t.Errorf("no %s annotation", a)
					}
				}
				url := s(dig(r, "annotations", "runbook_url"))
				anchor, ok := strings.CutPrefix(url, prefix)
				if !ok {
					t.Errorf("runbook_url %q does not start with %s", url, prefix)
				} else if !anchors[anchor] {
					t.Errorf("runbook_url %q: docs/RUNBOOK.md has no section #%s", url, anchor)
				}
				if anchor != strings.ToLower(name) {
					t.Errorf("runbook_url anchor %q, want the alert's own section #%s", anchor, strings.ToLower(name))
				}
				if !fired[name] {
					t.Errorf("no test in prometheus/alerts_test.yml in which %s fires", name)
				}
			})
		}
	}
}

// githubAnchor is the fragment GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}
