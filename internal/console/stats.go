package console

import (
	"context"
	"encoding/csv"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/httpapi"
	"github.com/gatehub/gatehub/internal/problem"
	"github.com/gatehub/gatehub/internal/stats"
	"github.com/gatehub/gatehub/internal/store"
)

// statsMaxEntries bounds one statistics request's scan of the log; a
// longer period is reported as truncated (archives cover the rest).
const statsMaxEntries = 200_000

type statsData struct {
	From, To string
	R        stats.Report
	Dwell    []DwellRow
	Charts   map[string]template.HTML
}

func (s *Server) statsReport(ctx context.Context, r *http.Request) (stats.Report, []DwellRow, string, string, error) {
	q := r.URL.Query()
	now := s.API.Tx.Clock().In(gateZone)
	to, err := time.ParseInLocation("2006-01-02", q.Get("to"), gateZone)
	if err != nil {
		to = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, gateZone)
	}
	from, err := time.ParseInLocation("2006-01-02", q.Get("from"), gateZone)
	if err != nil {
		from = to.AddDate(0, 0, -6)
	}
	if from.After(to) {
		return stats.Report{}, nil, "", "", problem.Validation([]problem.FieldError{{Pointer: "", Code: "range", Detail: "from is after to"}})
	}
	end := to.AddDate(0, 0, 1)
	var all []store.AuditEntry
	truncated := false
	next := int64(0)
	for {
		es, err := s.API.Views.AuditFind(ctx, store.AuditFilter{From: from, To: end, FromSeq: next, Limit: 5000})
		if err != nil {
			return stats.Report{}, nil, "", "", err
		}
		all = append(all, es...)
		if len(es) < 5000 {
			break
		}
		if len(all) >= statsMaxEntries {
			truncated = true
			break
		}
		next = es[len(es)-1].Seq + 1
	}
	set := s.Gates.Current()
	rep := stats.Compute(all, gateZone, func(g, l string) string {
		if gg, ok := set.Gate(g); ok {
			if ln, ok := gg.Lane(l); ok {
				return ln.Direction
			}
		}
		return ""
	})
	rep.From, rep.To, rep.Truncated = from, end, truncated
	var dwell []DwellRow
	if s.Dwell != nil {
		if dwell, err = s.Dwell.Dwell(ctx, from, end); err != nil {
			return stats.Report{}, nil, "", "", err
		}
	} else {
		// The checkpoint passages the crossings logged.
		for _, x := range rep.Dwell {
			dwell = append(dwell, DwellRow{Gate: x.Gate, Checkpoint: x.Checkpoint, Count: x.Count, P50: x.P50, P95: x.P95})
		}
	}
	return rep, dwell, from.Format("2006-01-02"), to.Format("2006-01-02"), nil
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request, c *call) error {
	rep, dwell, from, to, err := s.statsReport(r.Context(), r)
	if err != nil {
		return err
	}
	d := statsData{From: from, To: to, R: rep, Dwell: dwell, Charts: map[string]template.HTML{}}
	var cross []bar
	for _, x := range rep.Crossings {
		cross = append(cross, bar{Label: x.Day[5:] + " " + x.Gate + " " + shortDir(x.Direction), Value: float64(x.Count), Text: strconv.Itoa(x.Count)})
	}
	d.Charts["crossings"] = barChart(translate(c.Lang, "stats.crossings"), cross)
	var lat []bar
	for _, l := range rep.AckLatency {
		lat = append(lat, bar{Label: l.Key + " p50", Value: l.P50.Seconds(), Text: fmtDur(l.P50)},
			bar{Label: l.Key + " p95", Value: l.P95.Seconds(), Text: fmtDur(l.P95)})
	}
	d.Charts["acks"] = barChart(translate(c.Lang, "stats.ackLatency"), lat)
	var nk []bar
	for _, n := range rep.NackReasons {
		nk = append(nk, bar{Label: n.Agency + " " + n.Code, Value: float64(n.Count), Text: strconv.Itoa(n.Count)})
	}
	d.Charts["nacks"] = barChart(translate(c.Lang, "stats.nacks"), nk)
	s.render(w, r, c, http.StatusOK, "stats", translate(c.Lang, "nav.stats"), d)
	return nil
}

func shortDir(d string) string {
	switch d {
	case "export":
		return "→CN"
	case "import":
		return "→VN"
	}
	return d
}

// statsCSV downloads one table of the statistics page.
func (s *Server) statsCSV(w http.ResponseWriter, r *http.Request, c *call) error {
	chart := strings.TrimSuffix(r.PathValue("chart"), ".csv")
	rep, dwell, from, to, err := s.statsReport(r.Context(), r)
	if err != nil {
		return err
	}
	var rows [][]string
	switch chart {
	case "crossings":
		rows = append(rows, []string{"day", "gate", "direction", "crossings"})
		for _, x := range rep.Crossings {
			rows = append(rows, []string{x.Day, x.Gate, x.Direction, strconv.Itoa(x.Count)})
		}
	case "clearance":
		rows = append(rows, []string{"declarations_cleared", "p50_seconds", "p95_seconds"},
			[]string{strconv.Itoa(rep.Clearance.Count), secs(rep.Clearance.P50), secs(rep.Clearance.P95)})
	case "acks":
		rows = append(rows, []string{"agency", "acks", "p50_seconds", "p95_seconds"})
		for _, l := range rep.AckLatency {
			rows = append(rows, []string{l.Key, strconv.Itoa(l.Count), secs(l.P50), secs(l.P95)})
		}
	case "nacks":
		rows = append(rows, []string{"agency", "reason_code", "reason", "declarations"})
		for _, n := range rep.NackReasons {
			rows = append(rows, []string{n.Agency, n.Code, n.Text, strconv.Itoa(n.Count)})
		}
	case "dwell":
		rows = append(rows, []string{"gate", "checkpoint", "passages", "p50_seconds", "p95_seconds"})
		for _, d := range dwell {
			rows = append(rows, []string{d.Gate, d.Checkpoint, strconv.Itoa(d.Count), secs(d.P50), secs(d.P95)})
		}
	default:
		return problem.NotFound("no statistics table " + chart)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="gatehub-%s-%s-%s.csv"`, chart, from, to))
	cw := csv.NewWriter(w)
	for _, row := range rows {
		for i, v := range row {
			// A cell starting with = + - @ is a formula to a spreadsheet.
			if v != "" && strings.ContainsRune("=+-@", rune(v[0])) {
				row[i] = "'" + v
			}
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

type bar struct {
	Label string
	Value float64
	Text  string
}

// barChart renders a horizontal bar chart as inline SVG. The numbers are
// also in the table beside it; the SVG has a title and each bar its value
// as text, for screen readers and print.
func barChart(title string, bars []bar) template.HTML {
	const (
		width  = 560
		row    = 26
		labelW = 250
		valueW = 70
	)
	if len(bars) == 0 {
		return ""
	}
	maxV := 0.0
	for _, b := range bars {
		maxV = max(maxV, b.Value)
	}
	if maxV == 0 {
		maxV = 1
	}
	h := row*len(bars) + 10
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" viewBox="0 0 %d %d" width="100%%" aria-label="%s"><title>%s</title>`,
		width, h, template.HTMLEscapeString(title), template.HTMLEscapeString(title))
	for i, b := range bars {
		if r := []rune(b.Label); len(r) > 32 {
			b.Label = string(r[:31]) + "…"
		}
		y := 5 + i*row
		w := int(float64(width-labelW-valueW) * b.Value / maxV)
		fmt.Fprintf(&sb, `<text x="%d" y="%d" text-anchor="end" class="chart-label">%s</text>`, labelW-6, y+17, template.HTMLEscapeString(b.Label))
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%d" height="%d" class="chart-bar"/>`, labelW, y+3, max(w, 1), row-8)
		fmt.Fprintf(&sb, `<text x="%d" y="%d" class="chart-value">%s</text>`, labelW+max(w, 1)+6, y+17, template.HTMLEscapeString(b.Text))
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String()) // every interpolated string is escaped above
}

type adminData struct {
	Source  string
	Issues  []string
	Valid   bool
	Applied string
	Gate    *gate.Gate
}

func (s *Server) gateFileForm(w http.ResponseWriter, r *http.Request, c *call) error {
	s.render(w, r, c, http.StatusOK, "admin", translate(c.Lang, "nav.admin"), adminData{})
	return nil
}

// gateFileSubmit validates (as gatehubctl gates validate: every issue with
// file:line:col, and clashes with the other gates in force) or applies
// (PUT /v1/admin/gates/{code}) a pasted or uploaded gate file.
func (s *Server) gateFileSubmit(w http.ResponseWriter, r *http.Request, c *call) error {
	src := r.PostFormValue("source")
	name := "gate.yaml"
	if file, hdr, err := r.FormFile("file"); err == nil {
		data, err := io.ReadAll(io.LimitReader(file, 1<<20+1))
		file.Close()
		if err != nil {
			return fmt.Errorf("read upload: %w", err)
		}
		if len(data) > 1<<20 {
			return problem.TooLarge(1 << 20)
		}
		if len(data) > 0 {
			src, name = string(data), hdr.Filename
		}
	}
	d := adminData{Source: src}
	g, err := gate.Parse(name, []byte(src), s.API.AgencySet())
	if err == nil {
		// Files valid one by one may still clash with the gates in force.
		set := s.Gates.Current()
		others := []*gate.Gate{g}
		for _, code := range set.Codes() {
			if o, ok := set.Gate(code); ok && code != g.Code {
				others = append(others, o)
			}
		}
		_, err = gate.NewSet(others...)
	}
	if err != nil {
		for _, fe := range httpapi.GateProblem(err).Errors {
			d.Issues = append(d.Issues, fe.Detail)
		}
		s.render(w, r, c, http.StatusUnprocessableEntity, "admin", translate(c.Lang, "nav.admin"), d)
		return nil
	}
	d.Valid, d.Gate = true, g
	if r.PostFormValue("_action") == "apply" {
		if _, err := s.API.ApplyGateFile(r.Context(), c.P, g.Code, []byte(src)); err != nil {
			if p, ok := err.(*problem.Problem); ok {
				d.Valid = false
				for _, fe := range p.Errors {
					d.Issues = append(d.Issues, fe.Detail)
				}
				s.render(w, r, c, http.StatusUnprocessableEntity, "admin", translate(c.Lang, "nav.admin"), d)
				return nil
			}
			return err
		}
		d.Applied = g.Code
	}
	s.render(w, r, c, http.StatusOK, "admin", translate(c.Lang, "nav.admin"), d)
	return nil
}
