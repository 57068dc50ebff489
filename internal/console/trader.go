package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/auth"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/httpapi"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/problem"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/submission"
	"github.com/gatehub/gatehub/internal/views"
)

type listFilter struct {
	Status, Gate, Plate, From, To string
}

type listData struct {
	Filter listFilter
	Items  []store.Declaration
	Gates  []string
	Limit  int
}

// declarationList mirrors GET /v1/declarations: a trader sees only their
// own tax code's declarations; filters narrow the newest 500.
func (s *Server) declarationList(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	f := listFilter{Status: q.Get("status"), Gate: q.Get("gate"), Plate: strings.TrimSpace(q.Get("plate")), From: q.Get("from"), To: q.Get("to")}
	trader := ""
	if c.P.Role == auth.RoleTrader {
		trader = c.P.TaxCode
	}
	const limit = 500
	var list []store.Declaration
	if f.Plate != "" {
		views, err := s.API.Views.ViewsByPlate(r.Context(), declaration.NormalizePlate(f.Plate), 100)
		if err != nil {
			return err
		}
		for _, v := range views {
			if httpapi.Visible(c.P, &v) == nil {
				list = append(list, store.Declaration{ID: v.ID, Version: v.Version, Status: v.Status, Gate: v.Gate, PlateVN: v.PlateVN, PlateCN: v.PlateCN, CreatedAt: v.CreatedAt, TraderTaxCode: v.TraderTaxCode})
			}
		}
	} else {
		var err error
		list, err = s.API.Views.ListDeclarations(r.Context(), trader, limit)
		if err != nil {
			return err
		}
	}
	from, _ := time.ParseInLocation("2006-01-02", f.From, gateZone)
	to, _ := time.ParseInLocation("2006-01-02", f.To, gateZone)
	out := list[:0:0]
	for _, d := range list {
		if c.P.Role == auth.RoleTrader && d.TraderTaxCode != c.P.TaxCode {
			continue
		}
		if (f.Status != "" && d.Status != f.Status) || (f.Gate != "" && d.Gate != f.Gate) ||
			(!from.IsZero() && d.CreatedAt.Before(from)) || (!to.IsZero() && !d.CreatedAt.Before(to.AddDate(0, 0, 1))) {
			continue
		}
		out = append(out, d)
	}
	s.render(w, r, c, http.StatusOK, "declarations", translate(c.Lang, "nav.declarations"),
		listData{Filter: f, Items: out, Gates: s.Gates.Current().Codes(), Limit: limit})
	return nil
}

type formData struct {
	Form   *declForm
	Action string
	Amend  string // declaration id when amending
	Upload string // error reading an uploaded file
}

func (s *Server) newForm(c *call) *declForm {
	f := newDeclForm(s.Gates.Current().Codes())
	if c.P.Role == auth.RoleTrader {
		f.Values["/trader/taxCode"] = c.P.TaxCode
	}
	return f
}

func (s *Server) declarationNew(w http.ResponseWriter, r *http.Request, c *call) error {
	f := s.newForm(c)
	f.Values["/direction"] = "export"
	f.Values["/cargoKind"] = "general"
	f.Values["/trader/country"] = "VN"
	s.render(w, r, c, http.StatusOK, "declare", translate(c.Lang, "declare.title"), formData{Form: f, Action: "/declarations"})
	return nil
}

// readDeclarationPost reads the form, or an uploaded/pasted JSON file into
// the form, and applies add/remove row actions. done is false when the
// post only changed the form's shape.
func (s *Server) readDeclarationPost(r *http.Request, c *call) (f *declForm, uploadErr string, done bool, err error) {
	if err := parseForm(r); err != nil {
		return nil, "", false, problem.MalformedBody("unreadable form")
	}
	f = s.newForm(c)
	readForm(f, r.PostForm)
	action := r.PostFormValue("_action")
	var raw []byte
	if file, _, ferr := r.FormFile("file"); ferr == nil {
		raw, err = io.ReadAll(io.LimitReader(file, httpapi.MaxDeclarationBytes+1))
		file.Close()
		if err != nil {
			return nil, "", false, fmt.Errorf("read upload: %w", err)
		}
	} else if pasted := r.PostFormValue("json"); strings.TrimSpace(pasted) != "" {
		raw = []byte(pasted)
	}
	if action == "upload" || len(raw) > 0 {
		if len(raw) > httpapi.MaxDeclarationBytes {
			return f, translate(c.Lang, "upload.tooLarge"), false, nil
		}
		f = s.newForm(c)
		f.Drivers, f.Consignments = 0, 0
		if err := fillFromJSON(f, raw); err != nil {
			f.Drivers, f.Consignments = 1, 1
			return f, translate(c.Lang, "upload.unreadable") + ": " + err.Error(), false, nil
		}
		// "Load into the form" shows the file for review; a file sent with
		// the submit button is submitted at once.
		return f, "", action != "upload", nil
	}
	switch {
	case action == "add-driver" && f.Drivers < maxRows:
		f.Drivers++
		return f, "", false, nil
	case action == "add-consignment" && f.Consignments < maxRows:
		f.Consignments++
		return f, "", false, nil
	case strings.HasPrefix(action, "remove-driver-"):
		var i int
		fmt.Sscanf(action, "remove-driver-%d", &i)
		f.removeRow("/drivers", i, &f.Drivers)
		return f, "", false, nil
	case strings.HasPrefix(action, "remove-consignment-"):
		var i int
		fmt.Sscanf(action, "remove-consignment-%d", &i)
		f.removeRow("/consignments", i, &f.Consignments)
		return f, "", false, nil
	}
	return f, "", true, nil
}

// decodeForm turns the form into a declaration through the API's decoder;
// a validation problem is placed on the form's inputs.
func (s *Server) decodeForm(r *http.Request, f *declForm, apiPath string) (*declaration.Declaration, error) {
	body, err := f.JSON()
	if err != nil {
		return nil, fmt.Errorf("encode form: %w", err)
	}
	return s.API.DecodeDeclaration(r.Context(), r.RemoteAddr, apiPath, bytes.NewReader(body))
}

// showProblem places err's field errors on the form when it is a problem
// the trader can fix, and reports whether it did.
func (s *Server) showProblem(r *http.Request, f *declForm, err error) bool {
	p := s.API.Problem(r, err)
	if p == nil || p.Status >= 500 || p.Status == http.StatusNotFound || p.Status == http.StatusForbidden {
		return false
	}
	if len(p.Errors) == 0 {
		f.Orphans = append(f.Orphans, problem.FieldError{Detail: p.Title + ": " + p.Detail})
		return true
	}
	f.placeErrors(p.Errors)
	return true
}

// declarationSubmit mirrors POST /v1/declarations.
func (s *Server) declarationSubmit(w http.ResponseWriter, r *http.Request, c *call) error {
	f, uploadErr, done, err := s.readDeclarationPost(r, c)
	if err != nil {
		return err
	}
	data := formData{Form: f, Action: "/declarations", Upload: uploadErr}
	if !done || uploadErr != "" {
		s.render(w, r, c, http.StatusOK, "declare", translate(c.Lang, "declare.title"), data)
		return nil
	}
	d, err := s.decodeForm(r, f, "/v1/declarations")
	if err == nil {
		err = httpapi.TraderOwns(c.P, d)
	}
	var v *views.DeclarationView
	if err == nil {
		// The form's hidden key makes a double click (or a resubmitted
		// page) one declaration, as Idempotency-Key does for the API.
		key := r.PostFormValue("_idem")
		if len(key) > 128 {
			key = ""
		}
		v, _, err = s.API.Submission.Submit(r.Context(), httpapi.Actor(c.P), submission.SubmitRequest{Declaration: d, IdempotencyKey: key})
	}
	if err != nil {
		if s.showProblem(r, f, err) {
			s.render(w, r, c, http.StatusUnprocessableEntity, "declare", translate(c.Lang, "declare.title"), data)
			return nil
		}
		return err
	}
	http.Redirect(w, r, "/declarations/"+v.ID, http.StatusSeeOther)
	return nil
}

// viewFor loads declaration id as the API's GET /v1/declarations/{id}
// does: another trader's declaration does not exist.
func (s *Server) viewFor(ctx context.Context, p auth.Principal, id string) (*views.DeclarationView, error) {
	v, err := s.API.Views.View(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := httpapi.Visible(p, v); err != nil {
		return nil, err
	}
	return v, nil
}

type declPage struct {
	V        *views.DeclarationView
	Timeline []TimelineEvent
	Agencies []agencyRow
	Final    bool
	CanEdit  bool
}

// agencyRow is one required agency with its current message.
type agencyRow struct {
	Agency   string
	Message  *views.MessageView
	Awaited  bool
	Overdue  bool
	Guangxi  bool
	Previous int // earlier messages to this agency
}

func (s *Server) declPageData(ctx context.Context, c *call, v *views.DeclarationView) (*declPage, error) {
	tl, err := s.Timeline.Timeline(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", v.ID, err)
	}
	d := &declPage{V: v, Timeline: tl}
	d.Final = v.Status == hub.StatusCancelled || v.Decision.Status == "REJECTED"
	d.CanEdit = v.Status != hub.StatusCancelled && slices.Contains(s.API.RouteRoles("PUT /v1/declarations/{id}"), c.P.Role)
	agencies := slices.Clone(v.Required)
	for _, m := range v.Messages {
		if !slices.Contains(agencies, m.Agency) {
			agencies = append(agencies, m.Agency)
		}
	}
	for _, a := range agencies {
		row := agencyRow{Agency: a, Awaited: slices.Contains(v.Decision.Awaiting, a), Overdue: slices.Contains(v.Decision.Overdue, a), Guangxi: chineseSide(s.API.AgencySet(), a)}
		for i := range v.Messages {
			m := &v.Messages[i]
			if m.Agency != a {
				continue
			}
			if row.Message != nil {
				row.Previous++
			}
			if row.Message == nil || m.Version > row.Message.Version || (m.Version == row.Message.Version && m.CreatedAt.After(row.Message.CreatedAt)) {
				row.Message = m
			}
		}
		d.Agencies = append(d.Agencies, row)
	}
	return d, nil
}

// declarationPage mirrors GET /v1/declarations/{id}, live.
func (s *Server) declarationPage(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := s.viewFor(r.Context(), c.P, r.PathValue("id"))
	if err != nil {
		return err
	}
	d, err := s.declPageData(r.Context(), c, v)
	if err != nil {
		return err
	}
	s.render(w, r, c, http.StatusOK, "declaration", v.ID, d)
	return nil
}

// declarationLive streams the declaration's status block whenever it
// changes: on every decision event of its lanes at once, and every two
// seconds for message and ACK states that leave the decision unchanged.
// Each render goes through the same View and Visible as the page.
func (s *Server) declarationLive(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	v, err := s.viewFor(r.Context(), c.P, id)
	if err != nil {
		return err
	}
	ctx, cancel := s.streamContext(r)
	defer cancel()
	events := make(chan struct{}, 1)
	for _, topic := range s.declarationTopics(v) {
		ch, err := s.Bus.Subscribe(ctx, topic, "")
		if err != nil {
			s.Log.Warn("console: subscribe", "topic", topic, "err", err)
			continue
		}
		go func() {
			for ev := range ch {
				if bytes.Contains(ev.Data, []byte(`"`+id+`"`)) {
					select {
					case events <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	sse, err := startSSE(w)
	if err != nil {
		return err
	}
	last := ""
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		v, err := s.viewFor(ctx, c.P, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return sse.send("gone", err.Error())
		}
		d, err := s.declPageData(ctx, c, v)
		if err != nil {
			return err
		}
		html, err := s.fragment(c, r, "declaration", "decl-status", d)
		if err != nil {
			return err
		}
		if html != last {
			if err := sse.send("view", html); err != nil {
				return nil
			}
			last = html
		}
		select {
		case <-ctx.Done():
			return nil
		case <-events:
		case <-tick.C:
		}
	}
}

// declarationTopics are the lanes that hear about this truck's decisions
// (the hub's laneTopics): its declared lane, else its gate's lanes.
func (s *Server) declarationTopics(v *views.DeclarationView) []string {
	if v.Lane != "" {
		return []string{hub.LaneTopic(v.Gate, v.Lane)}
	}
	g, ok := s.Gates.Current().Gate(v.Gate)
	if !ok {
		return nil
	}
	var out []string
	for _, l := range g.Lanes {
		out = append(out, hub.LaneTopic(g.Code, l.ID))
	}
	return out
}

// messageXML mirrors GET /v1/messages/{id}: the exact signed bytes.
func (s *Server) messageXML(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := s.viewFor(r.Context(), c.P, r.PathValue("id"))
	if err != nil {
		return err
	}
	m, err := s.API.Views.Message(r.Context(), r.PathValue("mid"))
	if err != nil {
		return err
	}
	if m.DeclarationID != v.ID {
		return fmt.Errorf("message %s: %w", m.ID, hub.ErrNotFound)
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s-%s.xml"`, v.ID, m.Agency, m.ID))
	_, err = w.Write(m.Body)
	return err
}

func (s *Server) amendForm(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := s.viewFor(r.Context(), c.P, r.PathValue("id"))
	if err != nil {
		return err
	}
	f := s.newForm(c)
	f.Drivers, f.Consignments = 0, 0
	if err := fillFromJSON(f, v.Declaration); err != nil {
		return fmt.Errorf("declaration %s: %w", v.ID, err)
	}
	s.render(w, r, c, http.StatusOK, "declare", translate(c.Lang, "amend.title")+" "+v.ID,
		formData{Form: f, Action: "/declarations/" + v.ID + "/amend", Amend: v.ID})
	return nil
}

// amendSubmit mirrors PUT /v1/declarations/{id}.
func (s *Server) amendSubmit(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	if _, err := s.viewFor(r.Context(), c.P, id); err != nil {
		return err
	}
	f, uploadErr, done, err := s.readDeclarationPost(r, c)
	if err != nil {
		return err
	}
	data := formData{Form: f, Action: "/declarations/" + id + "/amend", Amend: id, Upload: uploadErr}
	title := translate(c.Lang, "amend.title") + " " + id
	if !done || uploadErr != "" {
		s.render(w, r, c, http.StatusOK, "declare", title, data)
		return nil
	}
	d, err := s.decodeForm(r, f, "/v1/declarations/"+id)
	if err == nil {
		err = httpapi.TraderOwns(c.P, d)
	}
	if err == nil {
		_, err = s.API.Submission.Amend(r.Context(), httpapi.Actor(c.P), id, d)
	}
	if err != nil {
		if !errors.Is(err, hub.ErrNotFound) && s.showProblem(r, f, err) {
			s.render(w, r, c, http.StatusUnprocessableEntity, "declare", title, data)
			return nil
		}
		return err
	}
	http.Redirect(w, r, "/declarations/"+id, http.StatusSeeOther)
	return nil
}

// cancelDeclaration mirrors POST /v1/declarations/{id}/cancel.
func (s *Server) cancelDeclaration(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	if _, err := s.viewFor(r.Context(), c.P, id); err != nil {
		return err
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if len(reason) > 500 {
		reason = reason[:500]
	}
	if _, err := s.API.Submission.Cancel(r.Context(), httpapi.Actor(c.P), id, reason); err != nil {
		return err
	}
	http.Redirect(w, r, "/declarations/"+id, http.StatusSeeOther)
	return nil
}
