package app_test

import (
	"encoding/json"
	"fmt"
	"github.com/gatehub/gatehub/internal/testenv"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gatehub/gatehub/internal/decisions"
)

// The monitoring files are checked against what a running hub really
// exports: its /metrics after one truck went through (declaration, four
// agency ACKs, a lane decision, a refused request, a live stream open).
//   - promtool check metrics lints the exposition;
//   - every query of the Grafana dashboard and every alert expression parses
//     (promtool check rules) and names only metrics, and label names, that
//     the hub exports;
//   - the series of the alert unit tests (deploy/prometheus/alerts_test.yml)
//     carry exactly the labels the hub gives those metrics, so a rule that
//     passes its test also matches production series.
func TestMonitoringMatchesTheHub(t *testing.T) {
	promtool := lookPromtool(t)
	h := start(t, nil)
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, nil))
	h.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool { return ev.Decision.Status == "CLEARED" })
	if resp, data := h.do("POST", "/v1/devices/readings", "dev-HUUNGHI-EXP-1-camera",
		[]byte(`{"kind":"plate","plate":"12C-12345","confidence":0.97}`), "application/json"); resp.StatusCode != 200 {
		t.Fatalf("plate reading: HTTP %d %s", resp.StatusCode, data)
	}
	if resp, _ := h.do("GET", "/v1/admin/outbox", "not-a-token", nil, ""); resp.StatusCode != 401 {
		t.Fatalf("unknown token: HTTP %d", resp.StatusCode)
	}
	exposition := h.scrape()

	t.Run("promtool check metrics", func(t *testing.T) {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(exposition)
		if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	})

	fams := parseExposition(t, exposition)
	for _, name := range []string{
		"gatehub_http_requests_total", "gatehub_http_request_duration_seconds", "gatehub_http_streams_open",
		"gatehub_outbox_oldest_pending_age_seconds", "gatehub_certificate_expiry_timestamp_seconds", "gatehub_build_info",
		"gatehub_refusals_total", "gatehub_lane_decisions_total",
	} {
		if fams[name] == nil {
			t.Errorf("the hub does not export %s", name)
		}
	}
	// Numeric status codes and a separate method: what the alert matches.
	for _, series := range []string{
		`gatehub_http_requests_total{code="201",method="post",route="/v1/declarations"}`,
		`gatehub_http_requests_total{code="401",method="get",route="/v1/admin/outbox"}`,
		`gatehub_http_requests_total{code="200",method="post",route="/v1/devices/readings"}`,
		`gatehub_refusals_total{kind="auth.refused"}`,
	} {
		if got := metricValue(t, exposition, series); got != 1 {
			t.Errorf("%s = %v, want 1", series, got)
		}
	}
	if got := metricValue(t, exposition, `gatehub_lane_decisions_total{action="OPEN",gate="HUUNGHI"}`) +
		metricValue(t, exposition, `gatehub_lane_decisions_total{action="KEEP-CLOSED",gate="HUUNGHI"}`); got != 1 {
		t.Errorf("lane decisions at HUUNGHI = %v, want 1", got)
	}
	// The stream is counted as open but never timed.
	if got := metricValue(t, exposition, `gatehub_http_streams_open{route="/v1/gates/{gate}/lanes/{lane}/events"}`); got != 1 {
		t.Errorf("open streams = %v, want 1", got)
	}
	if strings.Contains(exposition, `gatehub_http_request_duration_seconds_count{method="get",route="/v1/gates/{gate}/lanes/{lane}/events"}`) {
		t.Errorf("the live stream is in the latency histogram")
	}

	queries := dashboardQueries(t)
	if len(queries) < 10 {
		t.Fatalf("%d dashboard queries; the dashboard did not parse as expected", len(queries))
	}
	alerts := alertExpressions(t)
	t.Run("queries parse", func(t *testing.T) {
		var all []string
		for _, q := range queries {
			all = append(all, q.expr)
		}
		for _, a := range alerts {
			all = append(all, a.expr)
		}
		checkPromQL(t, promtool, all)
	})
	t.Run("dashboard names exported metrics", func(t *testing.T) {
		for _, q := range queries {
			checkNames(t, "dashboard: "+q.where, q.expr, fams)
		}
		// What the dashboard must show (the list).
		named := map[string]bool{}
		for _, q := range queries {
			for _, sel := range selectors(q.expr) {
				named[sel.metric] = true
			}
		}
		for _, want := range []string{"gatehub_messages", "gatehub_ack_latency_seconds_bucket", "gatehub_decisions_total",
			"gatehub_lane_decisions_total", "gatehub_acks_refused_total", "gatehub_refusals_total"} {
			if !named[want] {
				t.Errorf("the dashboard shows no %s", want)
			}
		}
	})
	t.Run("alerts name exported metrics", func(t *testing.T) {
		for _, a := range alerts {
			checkNames(t, "alert "+a.where, a.expr, fams)
		}
	})
	t.Run("alert tests use the hub's series", func(t *testing.T) {
		for _, series := range alertTestSeries(t) {
			name, labels := parseSeries(t, series)
			if name == "up" {
				continue // Prometheus's own
			}
			fam := fams[familyOf(name, fams)]
			if fam == nil {
				t.Errorf("alerts_test.yml: %s: the hub exports no such metric", series)
				continue
			}
			got := slices.Sorted(maps.Keys(labels))
			got = slices.DeleteFunc(got, func(l string) bool { return l == "job" || l == "instance" })
			want := fam.labelsOf(name)
			if !slices.Equal(got, want) {
				t.Errorf("alerts_test.yml: %s has labels %v; the hub gives %s the labels %v", series, got, name, want)
			}
			// The status code is a number, as promhttp writes it (the old
			// "Internal Server Error" never matched code=~"5..").
			if c, ok := labels["code"]; ok && name == "gatehub_http_requests_total" && !regexp.MustCompile(`^[1-5][0-9][0-9]$`).MatchString(c) {
				t.Errorf("alerts_test.yml: %s: code %q is not a numeric status", series, c)
			}
		}
	})
}

func lookPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if testenv.CI() {
			t.Fatal("promtool not found (apt-get install prometheus)")
		}
		t.Skip("promtool not found (apt-get install prometheus)")
	}
	return p
}

// family is one metric family of an exposition.
type family struct {
	typ    string
	labels map[string][]string // sample name → its label names, sorted
}

func (f *family) labelsOf(sample string) []string { return f.labels[sample] }

var (
	typeLine   = regexp.MustCompile(`^# TYPE (\S+) (\S+)$`)
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? \S+$`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"`)
)

// parseExposition reads the text format: families by name, and for each
// sample name (histograms have _bucket, _sum, _count) its label names.
func parseExposition(t *testing.T, text string) map[string]*family {
	t.Helper()
	fams := map[string]*family{}
	for _, line := range strings.Split(text, "\n") {
		if m := typeLine.FindStringSubmatch(line); m != nil {
			fams[m[1]] = &family{typ: m[2], labels: map[string][]string{}}
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		fam := fams[familyOf(m[1], fams)]
		if fam == nil {
			t.Fatalf("sample %s before its TYPE line", m[1])
		}
		var names []string
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			names = append(names, p[1])
		}
		sort.Strings(names)
		fam.labels[m[1]] = names
	}
	return fams
}

// familyOf maps a sample name to its family (x_bucket → x for histograms).
func familyOf(sample string, fams map[string]*family) string {
	if _, ok := fams[sample]; ok {
		return sample
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(sample, suffix); ok {
			if f := fams[base]; f != nil && (f.typ == "histogram" || f.typ == "summary") {
				return base
			}
		}
	}
	return sample
}

type query struct{ where, expr string }

// grafanaVars replaces dashboard variables by values PromQL accepts.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$job", "gatehub", "$agency", ".*",
)

func dashboardQueries(t *testing.T) []query {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "gatehub.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
			Panels  []json.RawMessage
		}
		Templating struct {
			List []struct {
				Name  string
				Type  string
				Query json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("deploy/grafana/gatehub.json: %v", err)
	}
	var out []query
	for _, p := range d.Panels {
		if len(p.Panels) > 0 {
			t.Fatalf("panel %q: collapsed rows hide their panels from this check; keep rows open", p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, query{p.Title, grafanaVars.Replace(tg.Expr)})
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_]+)\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("variable %s: query %q is not label_values(selector, label)", v.Name, q.Query)
		}
		out = append(out, query{"variable " + v.Name, grafanaVars.Replace(m[1])})
	}
	return out
}

func alertExpressions(t *testing.T) []query {
	t.Helper()
	var f struct {
		Groups []struct {
			Rules []struct{ Alert, Record, Expr string }
		}
	}
	readYAML(t, filepath.Join(repoRoot, "deploy", "prometheus", "alerts.yml"), &f)
	var out []query
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, query{r.Alert + r.Record, r.Expr})
		}
	}
	return out
}

func alertTestSeries(t *testing.T) []string {
	t.Helper()
	var f struct {
		Tests []struct {
			InputSeries []struct{ Series string } `yaml:"input_series"`
		}
	}
	readYAML(t, filepath.Join(repoRoot, "deploy", "prometheus", "alerts_test.yml"), &f)
	var out []string
	for _, tc := range f.Tests {
		for _, s := range tc.InputSeries {
			out = append(out, s.Series)
		}
	}
	if len(out) == 0 {
		t.Fatal("alerts_test.yml has no input series")
	}
	return out
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// checkPromQL has promtool parse every expression, as recording rules.
func checkPromQL(t *testing.T, promtool string, exprs []string) {
	t.Helper()
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		rules = append(rules, rule{fmt.Sprintf("gatehub_check:query_%d", i), e})
	}
	data, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "check", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "queries.yml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules (dashboard queries and alert expressions): %v\n%s", err, out)
	}
}

// selector is one vector selector of a PromQL expression.
type selector struct {
	metric string
	labels []string // label names of its matchers
}

var (
	strLit     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	rangeSel   = regexp.MustCompile(`\[[^\]]*\]`)
	grouping   = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	matchers   = regexp.MustCompile(`\{[^}]*\}`)
	identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	matcherKey = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	keywords   = map[string]bool{
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true,
	}
)

// selectors finds the vector selectors of a PromQL expression: every
// identifier that is not a function (followed by "("), keyword, grouping
// label, duration or number. Enough for the expressions we ship; promtool
// has checked that they parse.
func selectors(expr string) []selector {
	// Label matchers may hold strings with braces: blank strings first, but
	// keep their position so a matcher still follows its metric.
	e := strLit.ReplaceAllStringFunc(expr, func(s string) string { return `""` })
	e = rangeSel.ReplaceAllString(e, " ")
	e = grouping.ReplaceAllString(e, " ")
	var out []selector
	for {
		loc := matchers.FindStringIndex(e)
		if loc == nil {
			break
		}
		var keys []string
		for _, m := range matcherKey.FindAllStringSubmatch(e[loc[0]:loc[1]], -1) {
			keys = append(keys, m[1])
		}
		before := strings.TrimRight(e[:loc[0]], " ")
		if ids := identifier.FindAllStringIndex(before, -1); len(ids) > 0 && ids[len(ids)-1][1] == len(before) {
			last := ids[len(ids)-1]
			out = append(out, selector{metric: before[last[0]:], labels: keys})
			e = before[:last[0]] + " " + e[loc[1]:]
		} else {
			out = append(out, selector{labels: keys}) // {__name__=…} form: not used by us
			e = e[:loc[0]] + " " + e[loc[1]:]
		}
	}
	for _, loc := range identifier.FindAllStringIndex(e, -1) {
		id := e[loc[0]:loc[1]]
		rest := strings.TrimLeft(e[loc[1]:], " \n\t")
		if keywords[strings.ToLower(id)] || strings.HasPrefix(rest, "(") || (loc[0] > 0 && isDigit(e[loc[0]-1])) {
			continue
		}
		out = append(out, selector{metric: id})
	}
	return out
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' || b == '.' }

// checkNames reports selectors of expr that name no exported metric, or
// match on a label the metric does not carry.
func checkNames(t *testing.T, where, expr string, fams map[string]*family) {
	t.Helper()
	sels := selectors(expr)
	if len(sels) == 0 {
		t.Errorf("%s: %q selects no metric", where, expr)
	}
	for _, sel := range sels {
		if sel.metric == "" {
			t.Errorf("%s: a selector without a metric name in %q", where, expr)
			continue
		}
		if sel.metric == "up" {
			continue // Prometheus's own, per target
		}
		fam := fams[familyOf(sel.metric, fams)]
		if fam == nil {
			t.Errorf("%s: %s is not exported by the hub (query %q)", where, sel.metric, expr)
			continue
		}
		if _, ok := fam.labels[sel.metric]; !ok {
			t.Errorf("%s: %s is not a sample name of %s (query %q)", where, sel.metric, familyOf(sel.metric, fams), expr)
			continue
		}
		for _, l := range sel.labels {
			if l != "job" && l != "instance" && !slices.Contains(fam.labels[sel.metric], l) {
				t.Errorf("%s: %s has no label %s (query %q)", where, sel.metric, l, expr)
			}
		}
	}
	// Aggregation labels (by/without/on/ignoring) must be carried by one of
	// the expression's metrics: a misspelt one silently groups everything.
	for _, g := range grouping.FindAllString(strLit.ReplaceAllString(expr, `""`), -1) {
		inner := g[strings.Index(g, "(")+1 : len(g)-1]
		for _, l := range strings.Split(inner, ",") {
			l = strings.TrimSpace(l)
			if l == "" || l == "job" || l == "instance" {
				continue
			}
			found := false
			for _, sel := range sels {
				if fam := fams[familyOf(sel.metric, fams)]; fam != nil && slices.Contains(fam.labels[sel.metric], l) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no metric of %q has the label %s it groups by", where, expr, l)
			}
		}
	}
}

// parseSeries reads a promtool series like `name{a="b", c="d"}`.
func parseSeries(t *testing.T, s string) (string, map[string]string) {
	t.Helper()
	name, rest, _ := strings.Cut(s, "{")
	labels := map[string]string{}
	for _, m := range regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(rest, -1) {
		labels[m[1]] = m[2]
	}
	return strings.TrimSpace(name), labels
}

func TestSelectors(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up{job="gatehub"} == 0`, []string{"up"}},
		{`sum by (agency, le) (rate(gatehub_x_bucket{job="a}b", agency=~"$agency"}[5m]))`, []string{"gatehub_x_bucket"}},
		{`min by (participant, role) (gatehub_c{job="g"}) - time() < 30 * 86400`, []string{"gatehub_c"}},
		{"sum(rate(a_total{code=~\"5..\"}[5m])) / sum(rate(a_total[5m])) > 0.05", []string{"a_total", "a_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(b_bucket[1m]))) and on (instance) c`, []string{"b_bucket", "c"}},
	}
	for _, tt := range tests {
		var got []string
		for _, s := range selectors(tt.expr) {
			got = append(got, s.metric)
		}
		sort.Strings(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("selectors(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}
