package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestGatesValidate(t *testing.T) {
	shipped, err := filepath.Glob("../../deploy/gates/*.yaml")
	if err != nil || len(shipped) == 0 {
		t.Fatalf("no shipped gate files: %v", err)
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	huunghi, err := os.ReadFile("../../deploy/gates/huunghi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	broken := write("broken.yaml", strings.Replace(strings.Replace(string(huunghi),
		"direction: import\n", "direction: sideways\n", 1),
		"weightTolerancePercent: 2\n", "weightTolerancePercent: 80\n", 1))
	syntax := write("syntax.yaml", "code: X\nlanes: [\n")
	twin := write("twin.yaml", string(huunghi)) // valid alone, clashes with huunghi.yaml

	located := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(broken) + `:\d+:\d+: `)
	tests := []struct {
		name     string
		args     []string
		exit     int      // 0 = success
		want     []string // each must appear in the output
		wantLine *regexp.Regexp
		lines    int // at least this many located lines
	}{
		{"shipped files", shipped, 0, []string{"huunghi.yaml: ok (gate HUUNGHI, 5 lanes)", "tanthanh.yaml: ok", "chima.yaml: ok"}, nil, 0},
		{"every error of a broken file", []string{broken}, 2, []string{`direction`, "sideways", "weightTolerancePercent"}, located, 2},
		{"syntax error", []string{syntax}, 2, []string{syntax + ":", "invalid YAML"}, nil, 0},
		{"valid files that clash", []string{"../../deploy/gates/huunghi.yaml", twin}, 2, []string{"already defined"}, nil, 0},
		{"one good, one broken", []string{shipped[0], broken}, 2, []string{": ok (gate", broken + ":"}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := dispatch(context.Background(), append([]string{"gates", "validate"}, tc.args...), &out)
			var code exitError
			switch {
			case tc.exit == 0 && err != nil:
				t.Fatalf("error %v; output:\n%s", err, out.String())
			case tc.exit != 0 && (!errors.As(err, &code) || int(code) != tc.exit):
				t.Fatalf("want exit status %d, got %v; output:\n%s", tc.exit, err, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if tc.wantLine != nil {
				if n := len(tc.wantLine.FindAllString(out.String(), -1)); n < tc.lines {
					t.Errorf("%d file:line:col lines, want at least %d:\n%s", n, tc.lines, out.String())
				}
			}
		})
	}
}
