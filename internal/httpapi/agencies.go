package httpapi

import (
	"net/http"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/auth"
	"github.com/gatehub/gatehub/internal/problem"
)

// AgencyView is one agency of the set in force, as GET /v1/admin/agencies
// lists it.
type AgencyView struct {
	Code        string              `json:"code"`
	Names       map[string]string   `json:"names"`
	Receives    []string            `json:"receives"`
	Sends       []string            `json:"sends"`
	Forward     map[string][]string `json:"forward"`
	Signature   string              `json:"signature"`
	AckDeadline string              `json:"ackDeadline"`
	Reasons     []string            `json:"reasons"`
}

func agencyViews(set *agencies.Set) []AgencyView {
	out := []AgencyView{}
	for _, a := range set.All() {
		v := AgencyView{
			Code: string(a.Code), Names: map[string]string{"vi": a.Names.VI, "en": a.Names.EN},
			Receives: a.Receives, Sends: append([]string{}, a.Sends...), Forward: map[string][]string{},
			Signature: a.Signature.Name, AckDeadline: a.AckDeadline.String(), Reasons: []string{},
		}
		if a.Names.ZH != "" {
			v.Names["zh"] = a.Names.ZH
		}
		for k, codes := range a.Forward {
			for _, c := range codes {
				v.Forward[k] = append(v.Forward[k], string(c))
			}
		}
		for code := range a.Reasons {
			v.Reasons = append(v.Reasons, code)
		}
		out = append(out, v)
	}
	return out
}

func (s *Server) listAgencies(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	return writeJSON(w, http.StatusOK, map[string]any{"agencies": agencyViews(s.AgencySet())})
}

// reloadAgencies reads deploy/agencies again and swaps the whole set, or
// refuses it with every problem and keeps the set in force.
func (s *Server) reloadAgencies(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if s.ReloadAgencies == nil {
		return problem.New(http.StatusNotImplemented, "Agency reload not available", "this hub was started without an agency directory to reload")
	}
	set, err := s.ReloadAgencies(r.Context())
	if err != nil {
		if r.Context().Err() != nil {
			return err
		}
		pr := AgencyProblem(err)
		s.RefusalLog.RecordRefusal(r.Context(), audit.KindConfigRefused, p.String(), map[string]any{"agencies": "reload", "problem": pr})
		return pr
	}
	return writeJSON(w, http.StatusOK, map[string]any{"agencies": agencyViews(set)})
}

// AgencyProblem is the 422 answer to an invalid agency set: every issue
// as file:line:col: field: message.
func AgencyProblem(err error) *problem.Problem {
	return configProblem("Invalid agency configuration", "the agencies in force are unchanged", "/problems/agency-config", err)
}

// AgencySet is the agency set in force (empty without a registry).
func (s *Server) AgencySet() *agencies.Set {
	if s.Agencies == nil {
		return nil
	}
	return s.Agencies.Current()
}
