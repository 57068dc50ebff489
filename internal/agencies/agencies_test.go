package agencies_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/agencies"
)

const shipped = "../../deploy/agencies"

func TestShippedAgenciesLoad(t *testing.T) {
	set, err := agencies.LoadDir(shipped)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"borderguard", "customs", "guangxi", "plantquarantine", "vehicleregistry"}
	if got := set.Strings(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("agencies = %v, want %v", got, want)
	}
	gx, _ := set.Get("guangxi")
	if gx.Signature.Name != "sm2-sm3" || gx.Endpoint.Timeout != time.Minute || gx.Names.ZH == "" {
		t.Errorf("guangxi = %+v", gx)
	}
	vr, _ := set.Get("vehicleregistry")
	if subs := vr.Subscribers(agencies.SendRevoke); len(subs) != 2 || !vr.MaySend(agencies.SendRevoke) || vr.MaySend(agencies.SendHold) {
		t.Errorf("vehicleregistry routing = %v sends %v", subs, vr.Sends)
	}
	pq, _ := set.Get("plantquarantine")
	if txt, ok := pq.Reason("PQ-CERT-MISSING"); !ok || txt.VI == "" || txt.EN == "" {
		t.Errorf("plantquarantine reason = %+v %v", txt, ok)
	}
	if pq.Mappings != "plantquarantine" || pq.Endpoint.ContentType != agencies.DefaultContentType || pq.Endpoint.AckMode != agencies.AckAny {
		t.Errorf("plantquarantine defaults = %+v", pq)
	}
}

// The reference in deploy/agencies/README.md is generated from the spec
// that parses the files; regenerate with GATEHUB_UPDATE_README=1.
func TestReadmeReferenceUpToDate(t *testing.T) {
	path := filepath.Join(shipped, "README.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, agencies.ReferenceBegin), strings.Index(doc, agencies.ReferenceEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: reference markers missing", path)
	}
	want := doc[:i] + agencies.ReferenceBegin + "\n" + agencies.Reference() + doc[j:]
	if doc == want {
		return
	}
	if os.Getenv("GATEHUB_UPDATE_README") != "" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: field reference out of date; run GATEHUB_UPDATE_README=1 go test ./internal/agencies/", path)
}

const valid = `code: pq
names: {vi: Kiểm dịch, en: Quarantine}
ackDeadline: 10m
receives: [submit]
`

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // each an issue line, file:line:col: path: message (prefix)
	}{
		{"missing fields", "code: pq\n", []string{
			"pq.yaml:1:1: names: missing required field", "pq.yaml:1:1: ackDeadline: missing", "pq.yaml:1:1: receives: missing"}},
		{"bad code", strings.Replace(valid, "code: pq", "code: Plant-Q", 1), []string{"pq.yaml:1:7: code: \"Plant-Q\" is not an agency code"}},
		{"unknown key", valid + "colour: red\n", []string{"pq.yaml:5:1: colour: unknown key \"colour\""}},
		{"bad duration", strings.Replace(valid, "10m", "ten", 1), []string{"pq.yaml:3:14: ackDeadline: must be a Go duration"}},
		{"too long", strings.Replace(valid, "10m", "48h", 1), []string{"pq.yaml:3:14: ackDeadline: must be positive and at most 24h0m0s"}},
		{"receives no submit", strings.Replace(valid, "[submit]", "[amend, fax]", 1), []string{
			"pq.yaml:4:11: receives: an agency receives at least \"submit\"", "pq.yaml:4:19: receives[1]: unknown kind \"fax\""}},
		{"bad profile", valid + "signature: rsa-md5\n", []string{"pq.yaml:5:12: signature: unknown signature profile \"rsa-md5\""}},
		{"forward kind not sent", valid + "sends: [HOLD]\nforward:\n  REVOKE: [customs]\n", []string{"pq.yaml:7:11: forward.REVOKE: REVOKE is not among the kinds"}},
		{"forward to self", valid + "sends: [HOLD]\nforward:\n  HOLD: [pq]\n", []string{"pq.yaml:7:10: forward.HOLD[0]: an agency does not forward to itself"}},
		{"sends unknown", valid + "sends: [HOLD, PARTY]\n", []string{"pq.yaml:5:15: sends[1]: unknown kind \"PARTY\""}},
		{"reserved header", valid + "endpoint:\n  headers: {Idempotency-Key: x}\n", []string{"pq.yaml:6:13: endpoint.headers.Idempotency-Key: header Idempotency-Key is set by the hub"}},
		{"bad reason", valid + "reasons:\n  bad: {vi: x}\n", []string{"pq.yaml:6:3: reasons.bad: \"bad\" is not a reason code"}},
		{"reason without en", valid + "reasons:\n  PQ-X: {vi: x}\n", []string{"pq.yaml:6:9: reasons.PQ-X.en: missing required field"}},
		{"bad url", valid + "endpoint: {url: 'ftp://x'}\n", []string{"pq.yaml:5:17: endpoint.url: \"ftp://x\" is not an http(s) URL"}},
		{"escaping dir", valid + "mappings: ../etc\n", []string{"pq.yaml:5:11: mappings: \"../etc\" must be a relative directory"}},
		{"concurrency", valid + "endpoint: {concurrency: 0}\n", []string{"pq.yaml:5:25: endpoint.concurrency: must be a whole number from 1 to 64"}},
		{"yaml syntax", "code: [\n", []string{"pq.yaml:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := agencies.Parse("pq.yaml", []byte(tc.yaml))
			var ce *agencies.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			for _, w := range tc.want {
				found := false
				for _, is := range ce.Issues {
					if strings.HasPrefix(is.String(), w) {
						found = true
					}
				}
				if !found {
					t.Errorf("no issue %q in\n%v", w, err)
				}
			}
		})
	}
	if _, err := agencies.Parse("pq.yaml", []byte(valid)); err != nil {
		t.Errorf("valid file: %v", err)
	}
}

func TestSetChecks(t *testing.T) {
	parse := func(name, y string) *agencies.Agency {
		a, err := agencies.Parse(name, []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := parse("pq.yaml", valid+"sends: [HOLD]\nforward:\n  HOLD: [nobody]\n")
	b := parse("other.yaml", valid)
	_, err := agencies.NewSet([]*agencies.Agency{a, b})
	for _, w := range []string{
		"pq.yaml:7:10: forward.HOLD[0]: unknown agency \"nobody\" (known: pq)",
		"other.yaml:1:7: code: agency \"pq\" is also defined in pq.yaml",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("NewSet error %v lacks %q", err, w)
		}
	}
}

func TestRegistrySwap(t *testing.T) {
	one, err := agencies.LoadDir(shipped)
	if err != nil {
		t.Fatal(err)
	}
	r := agencies.NewRegistry(one)
	var seen []*agencies.Set
	r.OnSwap(func(s *agencies.Set) { seen = append(seen, s) })
	two, _ := agencies.NewSet(one.All()[:1])
	r.Swap(two)
	if r.Current() != two || len(seen) != 1 || seen[0] != two {
		t.Fatalf("swap not installed: current %v, seen %v", r.Current().Strings(), len(seen))
	}
	if en, vi := two.Name("nobody"); en != "nobody" || vi != "nobody" {
		t.Errorf("unknown agency name = %q %q", en, vi)
	}
}
