package httpapi

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/acknowledgements"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/auth"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/fanout"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/lanes"
	"github.com/gatehub/gatehub/internal/problem"
	"github.com/gatehub/gatehub/internal/refusal"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/submission"
	"github.com/gatehub/gatehub/internal/views"
)

// MaxDeclarationBytes bounds a declaration body; the largest realistic
// one (200 consignment lines) is well under 128 KiB.
const MaxDeclarationBytes = 256 << 10

// Actor is the hub actor of an authenticated caller.
func Actor(p auth.Principal) hub.Actor {
	return hub.Actor{Role: p.Role, Participant: p.Subject, TaxCode: p.TaxCode}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Readiness is what /readyz reports. Ready false answers 503 (the load
// balancer takes this instance out); Checks names every dependency's state,
// "ok" or what is wrong with it, and Degraded lists the checks that failed
// without making the instance unready (Redis, which the hub uses fail-open;
// disk space below the reserve, which refuses new declarations only).
type Readiness struct {
	Ready    bool
	Checks   map[string]string
	Degraded []string
}

// readinessRetryAfter is the Retry-After of a 503 from /readyz.
const readinessRetryAfter = 5 * time.Second

func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	rd := Readiness{Ready: true}
	if s.Ready != nil {
		rd = s.Ready(r.Context())
	}
	if !rd.Ready {
		var failing []string
		for _, k := range slices.Sorted(maps.Keys(rd.Checks)) {
			if rd.Checks[k] != "ok" && !slices.Contains(rd.Degraded, k) {
				failing = append(failing, k+": "+rd.Checks[k])
			}
		}
		p := problem.Unavailable(strings.Join(failing, "; "), readinessRetryAfter)
		p.Title = "Not ready"
		problem.Write(w, p)
		return nil
	}
	status := "ready"
	if len(rd.Degraded) > 0 {
		status = "degraded"
	}
	body := map[string]any{"status": status}
	if rd.Checks != nil {
		body["checks"] = rd.Checks
	}
	return writeJSON(w, http.StatusOK, body)
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if s.Metrics == nil {
		return problem.NotFound("metrics are disabled")
	}
	if s.BeforeScrape != nil {
		s.BeforeScrape(r.Context())
	}
	s.Metrics.Handler().ServeHTTP(w, r)
	return nil
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	doc := s.OpenAPI
	if doc == nil {
		doc = openAPIDocument
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, err := w.Write(doc)
	return err
}

func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return problem.UnsupportedMediaType(ct, "application/json")
	}
	return nil
}

func (s *Server) decode(w http.ResponseWriter, r *http.Request) (*declaration.Declaration, error) {
	if err := requireJSON(r); err != nil {
		return nil, err
	}
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	return s.DecodeDeclaration(r.Context(), r.RemoteAddr, r.URL.Path, bytes.NewReader(body))
}

// DecodeDeclaration reads and validates a declaration body the way every
// submission and amendment is read (the console's forms too): size bound,
// strict fields, the gates as configured now, and a refusal in the audit
// log, in bounded form, for a body that is refused.
func (s *Server) DecodeDeclaration(ctx context.Context, remote, path string, body io.Reader) (*declaration.Declaration, error) {
	d, err := declaration.Decode(body, declaration.Options{MaxBytes: MaxDeclarationBytes, Gates: s.Gates.Current(), Now: s.Tx.Clock(), Codes: s.Codes})
	if err != nil {
		s.RefusalLog.RecordRefusal(ctx, audit.KindDeclarationRefused, remote, map[string]any{"path": refusal.Short(path, 128), "problem": boundedProblem(problem.From(err))})
		return nil, err
	}
	return d, nil
}

// boundedProblem is what the audit log keeps of a refusal's problem: the
// first field errors, with texts cut, so one refused body adds a bounded
// entry whatever it held.
func boundedProblem(p *problem.Problem) *problem.Problem {
	const maxErrors = 50
	out := *p
	out.Detail = refusal.Short(p.Detail, 512)
	out.Errors = nil
	for i, fe := range p.Errors {
		if i == maxErrors {
			out.Errors = append(out.Errors, problem.FieldError{Code: "truncated", Detail: fmt.Sprintf("and %d more", len(p.Errors)-maxErrors)})
			break
		}
		out.Errors = append(out.Errors, problem.FieldError{Pointer: refusal.Short(fe.Pointer, 128), Code: refusal.Short(fe.Code, 32), Detail: refusal.Short(fe.Detail, 256)})
	}
	return &out
}

// TraderOwns refuses a trader declaring for another tax code.
func TraderOwns(p auth.Principal, d *declaration.Declaration) error {
	if p.Role == auth.RoleTrader && d.Trader.TaxCode != p.TaxCode {
		return problem.Validation([]problem.FieldError{{
			Pointer: "/trader/taxCode", Code: "forbidden",
			Detail:   fmt.Sprintf("your credentials are for tax code %s", p.TaxCode),
			DetailVI: fmt.Sprintf("thông tin xác thực của bạn dành cho mã số thuế %s", p.TaxCode),
		}})
	}
	return nil
}

// admit asks Admit (disk space) before new work is read.
func (s *Server) admit(r *http.Request) error {
	if s.Admit == nil {
		return nil
	}
	return s.Admit(r.Context())
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := s.admit(r); err != nil {
		return err
	}
	d, err := s.decode(w, r)
	if err != nil {
		return err
	}
	if err := TraderOwns(p, d); err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 128 {
		return problem.Validation([]problem.FieldError{{Pointer: "", Code: "too_long", Detail: "Idempotency-Key header exceeds 128 characters"}})
	}
	v, created, err := s.Submission.Submit(r.Context(), Actor(p), submission.SubmitRequest{Declaration: d, IdempotencyKey: key})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/declarations/"+v.ID)
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
		w.Header().Set("Idempotent-Replayed", "true")
	}
	return writeJSON(w, status, v)
}

// Visible hides a declaration from a trader who does not own it, answering
// 404 so that ids of others cannot be probed.
func Visible(p auth.Principal, v *views.DeclarationView) error {
	if p.Role == auth.RoleTrader && v.TraderTaxCode != p.TaxCode {
		return fmt.Errorf("declaration %s: %w", v.ID, hub.ErrNotFound)
	}
	return nil
}

func (s *Server) getDeclaration(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	v, err := s.Views.View(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := Visible(p, v); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) getDecision(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	v, err := s.Views.View(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := Visible(p, v); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"declarationId": v.ID, "version": v.Version, "plateVN": v.PlateVN, "plateCN": v.PlateCN, "decision": v.Decision,
	})
}

func (s *Server) listDeclarations(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := newQuery(r)
	if plate := q.get("plate"); plate != "" {
		limit := q.limit(20, 100)
		if err := q.err(); err != nil {
			return err
		}
		found, err := s.Views.ViewsByPlate(r.Context(), declaration.NormalizePlate(plate), limit)
		if err != nil {
			return err
		}
		out := make([]views.DeclarationView, 0, len(found))
		for _, v := range found {
			if Visible(p, &v) == nil {
				out = append(out, v)
			}
		}
		return writeJSON(w, http.StatusOK, map[string]any{"declarations": out})
	}
	trader := ""
	if p.Role == auth.RoleTrader {
		trader = p.TaxCode
	}
	limit := q.limit(50, 500)
	if err := q.err(); err != nil {
		return err
	}
	list, err := s.Views.ListDeclarations(r.Context(), trader, limit)
	if err != nil {
		return err
	}
	type item struct {
		ID        string    `json:"id"`
		Version   int       `json:"version"`
		Status    string    `json:"status"`
		Gate      string    `json:"gate"`
		PlateVN   string    `json:"plateVN,omitempty"`
		PlateCN   string    `json:"plateCN,omitempty"`
		CreatedAt time.Time `json:"createdAt"`
	}
	out := make([]item, 0, len(list))
	for _, d := range list {
		out = append(out, item{d.ID, d.Version, d.Status, d.Gate, d.PlateVN, d.PlateCN, d.CreatedAt})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"declarations": out})
}

func (s *Server) decisionsByPlate(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := newQuery(r)
	plate := q.get("plate")
	if plate == "" {
		q.fail("plate", "required", "is required")
	}
	limit := q.limit(5, 50)
	if err := q.err(); err != nil {
		return err
	}
	decisions, err := s.Views.DecisionsByPlate(r.Context(), declaration.NormalizePlate(plate), limit)
	if err != nil {
		return err
	}
	out := []views.PlateDecision{}
	for _, d := range decisions {
		if p.Role == auth.RoleDevice && d.Gate != p.Gate {
			continue // a device sees its own gate only
		}
		out = append(out, d)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"plate": declaration.NormalizePlate(plate), "decisions": out})
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	m, err := s.Views.Message(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	switch p.Role {
	case auth.RoleAgency:
		if m.Agency != p.Agency {
			return fmt.Errorf("message %s: %w", m.ID, hub.ErrNotFound)
		}
	case auth.RoleTrader:
		v, err := s.Views.View(r.Context(), m.DeclarationID)
		if err != nil {
			return err
		}
		if err := Visible(p, v); err != nil {
			return fmt.Errorf("message %s: %w", m.ID, hub.ErrNotFound)
		}
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("X-Gatehub-Message-State", string(m.State))
	_, err = w.Write(m.Body)
	return err
}

func (s *Server) amend(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := s.admit(r); err != nil {
		return err
	}
	d, err := s.decode(w, r)
	if err != nil {
		return err
	}
	if err := TraderOwns(p, d); err != nil {
		return err
	}
	v, err := s.Submission.Amend(r.Context(), Actor(p), r.PathValue("id"), d)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var body struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		data, err := readBody(w, r)
		if err != nil {
			return err
		}
		if len(data) > 0 {
			if err := jsonStrict(data, &body); err != nil {
				return problem.MalformedBody(err.Error())
			}
		}
	}
	v, err := s.Submission.Cancel(r.Context(), Actor(p), r.PathValue("id"), body.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) postAck(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	agency := r.PathValue("agency")
	if !s.Operator.KnownAgency(agency) {
		return problem.NotFound("unknown agency " + agency)
	}
	raw, origin, ok, err := s.signedPost(w, r, agency, "ACKs", audit.KindAckRefused)
	if !ok || err != nil {
		return err
	}
	res, err := s.Acks.HandleAck(r.Context(), agency, raw, origin)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// postAgencyMessage takes an agency's own signed message, checked and
// budgeted exactly as an ACK is.
func (s *Server) postAgencyMessage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	agency := r.PathValue("agency")
	if s.AgencyMessages == nil || !s.Operator.KnownAgency(agency) {
		return problem.NotFound("unknown agency " + agency)
	}
	raw, origin, ok, err := s.signedPost(w, r, agency, "messages", audit.KindAgencyMessageRefused)
	if !ok || err != nil {
		return err
	}
	res, err := s.AgencyMessages.Receive(r.Context(), agency, raw, origin)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// signedPost reads the signed XML agency posts (what: "ACKs", "messages").
// A caller authenticated as another agency is refused before the body is
// read; an anonymous caller is judged by the signature alone, within the
// refusal budget of refusedKind. ok is false when an answer was written.
func (s *Server) signedPost(w http.ResponseWriter, r *http.Request, agency, what, refusedKind string) ([]byte, acknowledgements.AckOrigin, bool, error) {
	caller, authenticated := s.Auth.Authenticate(r)
	if authenticated && caller.Role == auth.RoleAgency && caller.Agency != agency {
		return nil, acknowledgements.AckOrigin{}, false, problem.Forbidden("credentials of " + caller.Agency + " cannot post " + what + " of " + agency)
	}
	origin := acknowledgements.AckOrigin{Source: r.RemoteAddr, Authenticated: authenticated && caller.Role == auth.RoleAgency}
	// Budgets before the body is read or a signature checked: verifying
	// is the expensive part, and a refusal is an audit entry.
	if !origin.Authenticated && !s.admitAnonymous(w, r, refusedKind) {
		return nil, origin, false, nil
	}
	if !s.allow(w, r, s.AckPerSource, refusal.Source(r.RemoteAddr), "ACK budget of this address exhausted") ||
		!s.allow(w, r, s.AckPerAgency, agency, "ACK budget of "+agency+" exhausted") {
		return nil, origin, false, nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/xml" && mt != "text/xml" {
		return nil, origin, false, problem.UnsupportedMediaType(r.Header.Get("Content-Type"), "application/xml")
	}
	raw, err := readBody(w, r)
	if err != nil {
		return nil, origin, false, err
	}
	return raw, origin, true, nil
}

func (s *Server) listOutbox(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	q := newQuery(r)
	f := store.MessageFilter{
		State: message.State(q.enum("state", message.StateNames())), Agency: q.enum("agency", s.Operator.Mappings.Agencies()),
		DeclarationID: q.get("declaration"), Limit: q.limit(100, 1000),
	}
	if err := q.err(); err != nil {
		return err
	}
	msgs, err := s.Operator.Outbox(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"messages": views.MessageViews(msgs, s.Tx.Clock())})
}

func (s *Server) listOverdue(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	q := newQuery(r)
	limit := q.limit(100, 1000)
	if err := q.err(); err != nil {
		return err
	}
	msgs, err := s.Operator.Overdue(r.Context(), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"messages": views.MessageViews(msgs, s.Tx.Clock())})
}

func (s *Server) redrive(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	m, err := s.Operator.Redrive(r.Context(), Actor(p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, views.MessageViews([]store.Message{*m}, s.Tx.Clock())[0])
}

// maxRedrive bounds the dead messages one bulk redrive puts back: each is
// a transaction of its own, and a request must end in seconds.
const maxRedrive = 1000

func (s *Server) redriveAgency(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	limit := 200
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRedrive {
			return problem.Validation([]problem.FieldError{{Pointer: "", Code: "range", Detail: fmt.Sprintf("query parameter limit must be an integer from 1 to %d", maxRedrive)}})
		}
		limit = n
	}
	res, err := s.Operator.RedriveAgency(r.Context(), Actor(p), r.PathValue("agency"), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

func (s *Server) cancelMessage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	m, err := s.Operator.CancelMessage(r.Context(), Actor(p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, views.MessageViews([]store.Message{*m}, s.Tx.Clock())[0])
}

func (s *Server) listGates(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	set := s.Gates.Current()
	type lane struct {
		ID         string   `json:"id"`
		Direction  string   `json:"direction"`
		CargoKinds []string `json:"cargoKinds"`
		Devices    int      `json:"devices"`
	}
	type item struct {
		Code        string `json:"code"`
		Name        string `json:"name"`
		Province    string `json:"province"`
		Counterpart string `json:"counterpart"`
		PortCode    string `json:"counterpartPortCode"`
		Lanes       []lane `json:"lanes"`
	}
	out := []item{}
	for _, code := range set.Codes() {
		g, _ := set.Gate(code)
		it := item{Code: g.Code, Name: g.Name, Province: g.Province, Counterpart: g.Counterpart.Name, PortCode: g.Counterpart.PortCode}
		for _, l := range g.Lanes {
			it.Lanes = append(it.Lanes, lane{l.ID, l.Direction, l.CargoKinds, len(l.Devices)})
		}
		out = append(out, it)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"gates": out})
}

// applyGate loads one gate file into the running hub. An invalid file is
// refused with every error and its line; the running configuration stays.
func (s *Server) applyGate(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	code := r.PathValue("code")
	data, err := readBody(w, r)
	if err != nil {
		return err
	}
	g, err := s.ApplyGateFile(r.Context(), p, code, data)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"applied": g.Code, "lanes": len(g.Lanes)})
}

// ApplyGateFile validates one gate file and installs it (the API's PUT and
// the console's admin page). An invalid file is refused with a problem
// listing every issue with its line, logged as refused; the running
// configuration stays.
func (s *Server) ApplyGateFile(ctx context.Context, p auth.Principal, code string, data []byte) (*gate.Gate, error) {
	refuse := func(err error) error {
		pr := GateProblem(err)
		s.RefusalLog.RecordRefusal(ctx, audit.KindConfigRefused, p.String(), map[string]any{"gate": code, "problem": pr})
		return pr
	}
	g, err := gate.Parse(code+".yaml", data, s.AgencySet())
	if err == nil && g.Code != code {
		err = fmt.Errorf("%s.yaml: gate code %q does not match the URL's %q", code, g.Code, code)
	}
	if err != nil {
		return nil, refuse(err)
	}
	if err := s.GateConfig.ApplyGate(ctx, Actor(p), g, data); err != nil {
		// A file valid on its own can still clash with the other gates
		// (a device credential already used elsewhere): that is the
		// province's to fix, like any other invalid file.
		var ce *gate.ConfigError
		if errors.As(err, &ce) {
			return nil, refuse(err)
		}
		return nil, err
	}
	if s.OnGateApplied != nil {
		if err := s.OnGateApplied(ctx, g); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// GateProblem is the problem document of an invalid gate file: one entry
// per issue, in the file:line:col form gatehubctl gates validate prints.
func GateProblem(err error) *problem.Problem {
	return configProblem("Invalid gate configuration", "the running configuration is unchanged", "/problems/gate-config", err)
}

// configProblem lists every issue of a configuration file (gate, agency)
// as file:line:col: field: message.
func configProblem(title, detail, typ string, err error) *problem.Problem {
	pr := problem.New(http.StatusUnprocessableEntity, title, detail)
	pr.Type = typ
	var ce *gate.ConfigError
	if errors.As(err, &ce) {
		for _, is := range ce.Issues {
			pr.Errors = append(pr.Errors, problem.FieldError{Pointer: "", Code: "config", Detail: is.String()})
		}
	} else {
		pr.Errors = append(pr.Errors, problem.FieldError{Pointer: "", Code: "config", Detail: err.Error()})
	}
	return pr
}

func (s *Server) deviceReading(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	data, err := readBody(w, r)
	if err != nil {
		return err
	}
	var in lanes.Reading
	if err := jsonStrict(data, &in); err != nil {
		return problem.MalformedBody(err.Error())
	}
	if errs := in.Validate(); len(errs) > 0 {
		return problem.Validation(errs)
	}
	ans, err := s.Lanes.Reading(r.Context(), lanes.DeviceRef{Gate: p.Gate, Lane: p.Lane, Device: p.Subject}, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ans)
}

// timeline: traders see their own declarations' (others' answer 404, like
// the declaration itself); operators, admins and auditors all.
func (s *Server) timeline(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id := r.PathValue("id")
	v, err := s.Views.View(r.Context(), id)
	if err != nil {
		return err
	}
	if err := Visible(p, v); err != nil {
		return err
	}
	t, err := s.Lanes.Timeline(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) turnBack(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := requireJSON(r); err != nil {
		return err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
	if err != nil {
		return problem.TooLarge(4096)
	}
	if err := jsonStrict(data, &in); err != nil {
		return problem.MalformedBody(err.Error())
	}
	if in.Reason == "" || len(in.Reason) > 500 {
		return problem.Validation([]problem.FieldError{{Pointer: "/reason", Code: "required", Detail: "say why the truck is turned back (at most 500 characters)"}})
	}
	c, err := s.Lanes.TurnBack(r.Context(), Actor(p), r.PathValue("id"), in.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"declarationId": c.DeclarationID, "state": c.State, "reason": c.Reason})
}

func (s *Server) laneState(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	g, l := r.PathValue("gate"), r.PathValue("lane")
	if p.Role == auth.RoleDevice && (p.Gate != g || p.Lane != l) {
		return problem.Forbidden("device " + p.Subject + " belongs to lane " + p.Gate + "/" + p.Lane)
	}
	if !s.Gates.Current().KnownLane(g, l) {
		return problem.NotFound("no lane " + l + " at gate " + g)
	}
	a, err := s.Lanes.LaneState(r.Context(), g, l)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a)
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	q := newQuery(r)
	since := s.Tx.Clock().Add(-24 * time.Hour)
	if v := q.get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			q.fail("since", "format", "must be an RFC 3339 time")
		}
		since = t
	}
	limit := q.limit(200, 1000)
	if err := q.err(); err != nil {
		return err
	}
	as, err := s.Lanes.Alerts(r.Context(), since, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"alerts": as})
}

func (s *Server) laneEvents(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	g, l := r.PathValue("gate"), r.PathValue("lane")
	if p.Role == auth.RoleDevice && (p.Gate != g || p.Lane != l) {
		return problem.Forbidden("device " + p.Subject + " belongs to lane " + p.Gate + "/" + p.Lane)
	}
	if !s.Gates.Current().KnownLane(g, l) {
		return problem.NotFound("no lane " + l + " at gate " + g)
	}
	perPrincipal, total := s.StreamsPerPrincipal, s.StreamsTotal
	if perPrincipal <= 0 {
		perPrincipal = 4
	}
	if total <= 0 {
		total = 2000
	}
	release, refused := s.streams.acquire(p.String(), perPrincipal, total)
	if refused != nil {
		return refused
	}
	defer release()
	hb := s.Heartbeat
	if hb <= 0 {
		hb = 15 * time.Second
	}
	if s.Streams != nil {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(s.Streams, cancel)
		defer stop()
		r = r.WithContext(ctx)
	}
	// The lane's current state first, from the store (durable events),
	// then live events from the bus.
	snapshot := fanout.WithSnapshot(func(ctx context.Context) ([]fanout.Event, error) {
		return s.Views.LaneSnapshot(ctx, g, l)
	})
	return fanout.ServeSSE(w, r, s.Bus, hub.LaneTopic(g, l), hb, snapshot)
}

// Audit listing bounds: a page holds at most limit entries (1000) and
// about DefaultAuditPageBytes of JSON (Server.AuditPageBytes), whichever
// comes first; the store is read auditFetch entries at a time, so the
// hub's memory per request stays near one page whatever the entries hold.
// A page that stops early names the cursor of the next one.
const (
	DefaultAuditPageBytes = 4 << 20
	auditFetch            = 16
)

func (s *Server) auditList(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	q := newQuery(r)
	f := store.AuditFilter{
		Kind: q.enum("kind", audit.Kinds), DeclarationID: q.get("declaration"), MessageID: q.get("message"),
		Agency: q.enum("agency", s.Operator.Mappings.Agencies()), Plate: declaration.NormalizePlate(q.get("plate")),
	}
	limit := q.limit(100, 1000)
	parseTime := func(name string, dst *time.Time) {
		if v := q.get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				q.fail(name, "format", "must be an RFC 3339 time")
			}
			*dst = t
		}
	}
	parseSeq := func(name string, dst *int64) {
		if v := q.get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				q.fail(name, "format", "must be a positive integer")
			}
			*dst = n
		}
	}
	parseTime("from", &f.From)
	parseTime("to", &f.To)
	parseSeq("fromSeq", &f.FromSeq)
	parseSeq("toSeq", &f.ToSeq)
	var cursor int64
	parseSeq("cursor", &cursor)
	if err := q.err(); err != nil {
		return err
	}
	f.FromSeq = max(f.FromSeq, cursor)

	pageBytes := s.AuditPageBytes
	if pageBytes <= 0 {
		pageBytes = DefaultAuditPageBytes
	}
	page := make([]json.RawMessage, 0, min(limit, 64))
	size, next := 0, int64(0)
	for len(page) < limit && next == 0 {
		want := min(auditFetch, limit-len(page))
		pf := f
		pf.Limit = want
		entries, err := s.Views.AuditFind(r.Context(), pf)
		if err != nil {
			return err
		}
		for _, e := range entries {
			b, err := json.Marshal(auditView(e))
			if err != nil {
				return fmt.Errorf("audit entry %d: %w", e.Seq, err)
			}
			if len(page) > 0 && size+len(b) > pageBytes {
				next = e.Seq
				break
			}
			page, size = append(page, b), size+len(b)
			f.FromSeq = e.Seq + 1
		}
		if len(entries) < want {
			break // the log has no more
		}
	}
	if next == 0 && len(page) == limit {
		// Full by count: say whether there is more.
		pf := f
		pf.Limit = 1
		more, err := s.Views.AuditFind(r.Context(), pf)
		if err != nil {
			return err
		}
		if len(more) > 0 {
			next = more[0].Seq
		}
	}
	res := auditPage{Entries: page}
	if next > 0 {
		res.NextCursor = strconv.FormatInt(next, 10)
		nq := r.URL.Query()
		nq.Set("cursor", res.NextCursor)
		w.Header().Set("Link", "<"+r.URL.Path+"?"+nq.Encode()+`>; rel="next"`)
	}
	return writeJSON(w, http.StatusOK, res)
}

// auditPage is one page of GET /v1/audit.
type auditPage struct {
	Entries []json.RawMessage `json:"entries"`
	// NextCursor, when set, is the cursor parameter of the next page.
	NextCursor string `json:"nextCursor,omitempty"`
}

// AuditEntryView is an audit entry as auditors read it: JSON payloads
// inline, XML payloads as text, hashes in hex (the form the archive and
// gatehubctl audit verify print).
type AuditEntryView struct {
	Seq           int64           `json:"seq"`
	Time          time.Time       `json:"time"`
	Kind          string          `json:"kind"`
	Actor         string          `json:"actor"`
	DeclarationID string          `json:"declarationId,omitempty"`
	MessageID     string          `json:"messageId,omitempty"`
	Agency        string          `json:"agency,omitempty"`
	Plate         string          `json:"plate,omitempty"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	PayloadXML    string          `json:"payloadXML,omitempty"`
	PrevHash      string          `json:"prevHash"`
	Hash          string          `json:"hash"`
}

func auditView(e store.AuditEntry) AuditEntryView {
	v := AuditEntryView{
		Seq: e.Seq, Time: e.Time, Kind: e.Kind, Actor: e.Actor, DeclarationID: e.DeclarationID,
		MessageID: e.MessageID, Agency: e.Agency, Plate: e.Plate,
		PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash),
	}
	if json.Valid(e.Payload) {
		v.Payload = json.RawMessage(e.Payload)
	} else {
		v.PayloadXML = string(e.Payload)
	}
	return v
}

func jsonStrict(data []byte, v any) error {
	dec := jsonDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

func jsonDecoder(r io.Reader) *json.Decoder {
	d := json.NewDecoder(r)
	d.DisallowUnknownFields()
	return d
}
