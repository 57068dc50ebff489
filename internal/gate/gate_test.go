package gate

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const shipped = "../../deploy/gates"

func TestShippedGatesLoad(t *testing.T) {
	s, err := LoadDir(shipped, known)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	if got, want := s.Codes(), []string{"CHIMA", "HUUNGHI", "TANTHANH"}; !slices.Equal(got, want) {
		t.Fatalf("Codes = %v, want %v", got, want)
	}
	lanes := map[string][]string{
		"HUUNGHI":  {"EXP-1", "EXP-2", "IMP-1"},
		"TANTHANH": {"EXP-1", "IMP-1"},
		"CHIMA":    {"EXP-1", "IMP-1"},
	}
	for code, ids := range lanes {
		for _, id := range ids {
			if !s.KnownLane(code, id) {
				t.Errorf("lane %s/%s missing", code, id)
			}
			// Every shipped device answers to its documented dev token.
			g, _ := s.Gate(code)
			l, _ := g.Lane(id)
			for _, d := range l.Devices {
				short := strings.TrimPrefix(d.ID, id+"-")
				dev, lane, gg, ok := s.DeviceByToken("dev-" + code + "-" + id + "-" + short)
				if !ok || dev.ID != d.ID || lane.ID != id || gg.Code != code {
					t.Errorf("dev token of %s/%s/%s not resolved", code, id, d.ID)
				}
			}
		}
	}
	if s.KnownLane("HUUNGHI", "IMP-2") || s.KnownGate("MONGCAI") {
		t.Error("unknown gate or lane reported as known")
	}
}

func TestShippedGateQueries(t *testing.T) {
	g, err := LoadFile(filepath.Join(shipped, "huunghi.yaml"), known)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir, kind string
		want      []string
	}{
		{"export", "general", []string{"customs", "borderguard", "vehicleregistry", "guangxi"}},
		{"export", "perishable", []string{"customs", "borderguard", "vehicleregistry", "guangxi"}},
		{"export", "empty", []string{"borderguard", "vehicleregistry", "guangxi"}},
		{"import", "dangerous", []string{"customs", "borderguard", "vehicleregistry"}},
		{"import", "empty", []string{"borderguard", "vehicleregistry"}},
		// No rule for transit: fail closed, every agency must answer.
		{"transit", "general", known.Strings()},
	}
	for _, tt := range tests {
		if got := g.RequiredAgencies(tt.dir, tt.kind); !slices.Equal(got, tt.want) {
			t.Errorf("RequiredAgencies(%s, %s) = %v, want %v", tt.dir, tt.kind, got, tt.want)
		}
	}
	// Fresh fruit (HS chapter 08) going out needs plant quarantine too.
	fruit := g.RequiredAgencies("export", "perishable", "84713000", "08109000")
	if want := []string{"customs", "borderguard", "vehicleregistry", "guangxi", "plantquarantine"}; !slices.Equal(fruit, want) {
		t.Errorf("RequiredAgencies(export, perishable, fruit) = %v, want %v", fruit, want)
	}
	if got := g.AckDeadline("plantquarantine"); got != 30*time.Minute {
		t.Errorf("AckDeadline(plantquarantine) = %v, want the agency file's 30m", got)
	}
	if got := g.AckDeadline("customs"); got != 15*time.Minute {
		t.Errorf("AckDeadline(customs) = %v", got)
	}
	if got := g.AckDeadline("nobody"); got != 0 {
		t.Errorf("AckDeadline(nobody) = %v", got)
	}
	ctx := g.Context()
	if ctx["code"] != "HUUNGHI" || ctx["counterpartNameCN"] != "友谊关" || ctx["province"] != "Lạng Sơn" || ctx["counterpartPortCode"] != "7211" {
		t.Errorf("Context = %v", ctx)
	}
	// Mutating the returned slice must not change the policy.
	g.RequiredAgencies("export", "general")[0] = "x"
	if g.RequiredAgencies("export", "general")[0] != "customs" {
		t.Error("RequiredAgencies leaks policy storage")
	}
}

// validGate is a minimal valid gate file; invalid cases edit it.
const validGate = `code: TESTGATE
name: Test
province: Lạng Sơn
counterpart:
  name: Test CN
  nameCN: 测试
  portCode: "7299"
lanes:
  - id: EXP-1
    direction: export
    cargoKinds: [general]
    devices:
      - id: b1
        kind: barrier
        tokenSHA256: 1111111111111111111111111111111111111111111111111111111111111111
        certFingerprint: AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA
policy:
  rules:
    - direction: export
      agencies: [customs]
  ackDeadlines:
    customs: 15m
  weightTolerancePercent: 2
  minPlateConfidence: 0.85
  decisionTTL: 2m
`

func TestParseValid(t *testing.T) {
	g, err := Parse("t.yaml", []byte(validGate), known)
	if err != nil {
		t.Fatal(err)
	}
	if g.Lanes[0].Devices[0].CertFingerprint != strings.Repeat("a", 64) {
		t.Errorf("fingerprint not normalized: %q", g.Lanes[0].Devices[0].CertFingerprint)
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want []string // each must appear in the error, in this order
		n    int      // exact number of issues, when non-zero
	}{
		{
			name: "unknown key and bad duration reported together",
			edit: func(s string) string {
				s = strings.Replace(s, "province: Lạng Sơn\n", "province: Lạng Sơn\nregion: north\n", 1)
				return strings.Replace(s, "decisionTTL: 2m", "decisionTTL: 2 minutes", 1)
			},
			want: []string{
				`t.yaml:4:1: region: unknown key "region"`,
				`t.yaml:26:16: policy.decisionTTL: must be a Go duration such as 15m or 90s, got "2 minutes"`,
			},
		},
		{
			name: "missing required fields",
			edit: func(s string) string {
				s = strings.Replace(s, "name: Test\n", "", 1)
				return strings.Replace(s, "        kind: barrier\n", "", 1)
			},
			want: []string{
				`t.yaml:1:1: name: missing required field "name"`,
				`t.yaml:12:9: lanes[0].devices[0].kind: missing required field "kind"`,
			},
		},
		{
			name: "unknown direction, cargo kind, device kind and agency",
			edit: func(s string) string {
				s = strings.Replace(s, "    direction: export\n", "    direction: exports\n", 1)
				s = strings.Replace(s, "cargoKinds: [general]", "cargoKinds: [general, frozen]", 1)
				s = strings.Replace(s, "kind: barrier", "kind: gate-arm", 1)
				return strings.Replace(s, "agencies: [customs]", "agencies: [customs, police]", 1)
			},
			want: []string{
				`t.yaml:10:16: lanes[0].direction: unknown direction "exports"`,
				`t.yaml:11:27: lanes[0].cargoKinds[1]: unknown cargo kind "frozen"`,
				`t.yaml:14:15: lanes[0].devices[0].kind: unknown device kind "gate-arm"`,
				`t.yaml:20:27: policy.rules[0].agencies[1]: unknown agency "police"`,
			},
		},
		{
			name: "duplicate lane and device ids, shared token",
			edit: func(s string) string {
				lane := s[strings.Index(s, "  - id: EXP-1"):strings.Index(s, "policy:")]
				lane = strings.Replace(lane, "certFingerprint: AA", "certFingerprint: BB", 1)
				return strings.Replace(s, "policy:", lane+"policy:", 1)
			},
			want: []string{
				`t.yaml:17:9: lanes[1].id: duplicate lane id "EXP-1" (first at 9:9)`,
				`t.yaml:21:13: lanes[1].devices[0].id: duplicate device id "b1" (first at 13:13)`,
				`t.yaml:23:22: lanes[1].devices[0].tokenSHA256: token hash already used by another device (first at 15:22)`,
			},
		},
		{
			name: "plain token instead of hash, bad port code, bad numbers",
			edit: func(s string) string {
				s = strings.Replace(s, "tokenSHA256: 1111111111111111111111111111111111111111111111111111111111111111", "tokenSHA256: dev-secret", 1)
				s = strings.Replace(s, `portCode: "7299"`, `portCode: "72A9"`, 1)
				s = strings.Replace(s, "weightTolerancePercent: 2", "weightTolerancePercent: two", 1)
				return strings.Replace(s, "minPlateConfidence: 0.85", "minPlateConfidence: 85", 1)
			},
			want: []string{
				`t.yaml:23:27: policy.weightTolerancePercent: must be a number, got "two"`,
			},
		},
		{
			name: "decoding and semantic problems in one run",
			edit: func(s string) string {
				s = strings.Replace(s, "    direction: export\n", "    direction: exports\n", 1)
				s = strings.Replace(s, "kind: barrier", "kind: boom", 1)
				return strings.Replace(s, "decisionTTL: 2m", "decisionTTL: 2", 1)
			},
			want: []string{
				`t.yaml:10:16: lanes[0].direction: unknown direction "exports"`,
				`t.yaml:14:15: lanes[0].devices[0].kind: unknown device kind "boom"`,
				`t.yaml:25:16: policy.decisionTTL: must be a Go duration such as 15m or 90s, got "2"`,
			},
			n: 3,
		},
		{
			name: "missing sections are not restated",
			edit: func(s string) string { return s[:strings.Index(s, "lanes:")] },
			want: []string{
				`t.yaml:1:1: lanes: missing required field "lanes"`,
				`t.yaml:1:1: policy: missing required field "policy"`,
			},
			n: 2,
		},
		{
			name: "semantic checks after decoding",
			edit: func(s string) string {
				s = strings.Replace(s, "tokenSHA256: 1111111111111111111111111111111111111111111111111111111111111111", "tokenSHA256: dev-secret", 1)
				s = strings.Replace(s, `portCode: "7299"`, `portCode: "72A9"`, 1)
				return strings.Replace(s, "minPlateConfidence: 0.85", "minPlateConfidence: 85", 1)
			},
			want: []string{
				`t.yaml:7:13: counterpart.portCode: CN customs port code must be 4 digits, got "72A9"`,
				`t.yaml:15:22: lanes[0].devices[0].tokenSHA256: must be the 64-hex-digit SHA-256`,
				`t.yaml:24:23: policy.minPlateConfidence: must be in (0, 1], got 85`,
			},
		},
		{
			name: "policy coverage and shadowed rule (a missing deadline is the agency file's)",
			edit: func(s string) string {
				s = strings.Replace(s, "cargoKinds: [general]", "cargoKinds: [general, perishable]", 1)
				return strings.Replace(s, "    - direction: export\n      agencies: [customs]\n",
					"    - direction: export\n      cargoKinds: [general]\n      agencies: [customs, guangxi]\n"+
						"    - direction: export\n      cargoKinds: [general]\n      agencies: [customs]\n", 1)
			},
			want: []string{
				`t.yaml:11:17: lanes[0].cargoKinds: no policy rule for export perishable cargo on lane "EXP-1"`,
				`t.yaml:22:7: policy.rules[1]: rule never applies`,
			},
		},
		{
			name: "duplicate key and wrong shapes",
			edit: func(s string) string {
				s = strings.Replace(s, "code: TESTGATE\n", "code: TESTGATE\ncode: OTHER\n", 1)
				return strings.Replace(s, "lanes:\n", "lanes: EXP-1\nx:\n", 1)
			},
			want: []string{
				`t.yaml:2:1: code: duplicate key (first at 1:1)`,
				`t.yaml:9:8: lanes: must be a list, got "EXP-1"`,
				`t.yaml:10:1: x: unknown key "x"`,
			},
		},
		{
			name: "HS chapters",
			edit: func(s string) string {
				return strings.Replace(s, "    - direction: export\n      agencies: [customs]\n",
					"    - direction: export\n      hsChapters: [\"8\", \"08\"]\n      agencies: [customs, plantquarantine]\n"+
						"    - direction: export\n      hsChapters: []\n      agencies: [customs]\n"+
						"    - direction: export\n      agencies: [customs]\n", 1)
			},
			want: []string{
				`t.yaml:20:20: policy.rules[0].hsChapters[0]: "8" is not an HS chapter (two digits, 01 to 97)`,
				`t.yaml:23:19: policy.rules[1].hsChapters: empty list matches nothing`,
			},
		},
		{
			name: "unknown agency in ackDeadlines",
			edit: func(s string) string {
				return strings.Replace(s, "    customs: 15m\n", "    customs: 15m\n    cusoms: 10m\n", 1)
			},
			want: []string{`t.yaml:23:13: policy.ackDeadlines.cusoms: unknown agency "cusoms" (allowed: borderguard, customs, guangxi, plantquarantine, vehicleregistry)`},
		},
		{
			name: "syntax error",
			edit: func(s string) string { return strings.Replace(s, "name: Test\n", "name: [Test\n", 1) },
			want: []string{`t.yaml:`, `invalid YAML`},
		},
		{
			name: "second document",
			edit: func(s string) string { return s + "---\ncode: OTHER\n" },
			want: []string{`t.yaml:26:1: one gate per file`},
		},
		{
			name: "empty file",
			edit: func(string) string { return "" },
			want: []string{`t.yaml:1:1: empty gate file`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := Parse("t.yaml", []byte(tt.edit(validGate)), known)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", g)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not *ConfigError: %v", err, err)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error lacks %q (or out of order); got:\n%s", w, msg)
				}
				rest = rest[i+len(w):]
			}
			for _, is := range ce.Issues {
				if is.File != "t.yaml" || is.Line == 0 {
					t.Errorf("issue without position: %+v", is)
				}
			}
			if tt.n != 0 && len(ce.Issues) != tt.n {
				t.Errorf("want %d issues, got %d:\n%s", tt.n, len(ce.Issues), msg)
			}
			if strings.Count(msg, "\n")+1 != len(ce.Issues) {
				t.Errorf("want one line per issue, got:\n%s", msg)
			}
		})
	}
}

func TestLoadDirDuplicateCode(t *testing.T) {
	dir := t.TempDir()
	other := strings.ReplaceAll(validGate, "1111111111111111111111111111111111111111111111111111111111111111", strings.Repeat("2", 64))
	other = strings.ReplaceAll(other, "AA:", "CC:")
	other = strings.Replace(other, ":AA\n", ":CC\n", 1)
	for name, body := range map[string]string{"a.yaml": validGate, "b.yaml": other, "notes.txt": "ignored"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err := LoadDir(dir, known)
	if err == nil || !strings.Contains(err.Error(), `gate code "TESTGATE" already defined`) {
		t.Fatalf("want duplicate code error, got %v", err)
	}
}

func TestLoadDirEmpty(t *testing.T) {
	if _, err := LoadDir(t.TempDir(), known); err == nil || !strings.Contains(err.Error(), "no *.yaml gate files") {
		t.Fatalf("want error for a directory without gates, got %v", err)
	}
}

func TestNewSetRejectsSharedCredentials(t *testing.T) {
	a, err := Parse("a.yaml", []byte(validGate), known)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("b.yaml", []byte(strings.Replace(validGate, "TESTGATE", "OTHER", 1)), known)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewSet(a, b)
	if err == nil || !strings.Contains(err.Error(), "shares its token with TESTGATE/EXP-1/b1") ||
		!strings.Contains(err.Error(), "shares its certificate") {
		t.Fatalf("want shared credential errors, got %v", err)
	}
}

func TestDeviceLookups(t *testing.T) {
	g, err := Parse("t.yaml", []byte(strings.Replace(validGate,
		"1111111111111111111111111111111111111111111111111111111111111111",
		// SHA-256 of "s3cret"
		"1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0", 1)), known)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(g)
	if err != nil {
		t.Fatal(err)
	}
	if d, l, gg, ok := s.DeviceByToken("s3cret"); !ok || d.ID != "b1" || l.ID != "EXP-1" || gg.Code != "TESTGATE" {
		t.Error("right token not resolved")
	}
	if _, _, _, ok := s.DeviceByToken("wrong"); ok {
		t.Error("wrong token accepted")
	}
	if _, _, _, ok := s.DeviceByToken(""); ok {
		t.Error("empty token accepted")
	}
	// The configured hash itself must not work as a token.
	if _, _, _, ok := s.DeviceByToken(g.Lanes[0].Devices[0].TokenSHA256); ok {
		t.Error("hash accepted as token")
	}
	for _, fp := range []string{strings.Repeat("a", 64), strings.Repeat("A", 64), strings.TrimSuffix(strings.Repeat("aa:", 32), ":")} {
		if d, l, gg, ok := s.DeviceByCertFingerprint(fp); !ok || d.ID != "b1" || l.ID != "EXP-1" || gg.Code != "TESTGATE" {
			t.Errorf("fingerprint %s not resolved", fp)
		}
	}
	if _, _, _, ok := s.DeviceByCertFingerprint(strings.Repeat("b", 64)); ok {
		t.Error("unknown fingerprint accepted")
	}
}
