package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehub/gatehub/internal/decisions"
)

// TestMappingErrorsAre422: a declaration valid in general but lacking
// what an agency of its crossing needs is the trader's to fix: 422 with
// the pointer, never 500, and nothing stored.
func TestMappingErrorsAre422(t *testing.T) {
	h := start(t, nil)
	tests := []struct {
		name    string
		edit    func(map[string]any)
		pointer string
	}{
		{"export without customs declaration numbers", func(m map[string]any) { delete(m, "customsDeclarationNumbers") }, "/customsDeclarationNumbers"},
		{"export with an empty list of them", func(m map[string]any) { m["customsDeclarationNumbers"] = []any{} }, "/customsDeclarationNumbers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, data := h.do("POST", "/v1/declarations", traderToken, sample(t, tc.edit), "application/json")
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("HTTP %d, want 422: %s", resp.StatusCode, data)
			}
			p := decodeJSON[struct {
				Errors []struct{ Pointer, Code, Detail string }
			}](t, data)
			if len(p.Errors) != 1 || p.Errors[0].Pointer != tc.pointer || p.Errors[0].Code != "required" || !strings.Contains(p.Errors[0].Detail, "Customs") {
				t.Fatalf("errors %+v, want required at %s by Customs", p.Errors, tc.pointer)
			}
		})
	}
	resp, data := h.do("GET", "/v1/declarations", traderToken, nil, "")
	if resp.StatusCode != http.StatusOK || strings.Contains(string(data), `"id"`) {
		t.Fatalf("a refused declaration was stored: %s", data)
	}
}

// TestStrictListParameters: filters with values that cannot match and a
// limit that is not a number are 400 naming the parameter, not an empty
// 200; a known path with an unsupported method is 405 with Allow.
func TestStrictListParameters(t *testing.T) {
	h := start(t, nil)
	tests := []struct {
		path, token, param string
		status             int
	}{
		{"/v1/admin/outbox?state=bogus", "dev-operator", "state", 400},
		{"/v1/admin/outbox?agency=nasa", "dev-operator", "agency", 400},
		{"/v1/admin/outbox?limit=ten", "dev-operator", "limit", 400},
		{"/v1/admin/outbox?limit=0", "dev-operator", "limit", 400},
		{"/v1/admin/outbox?state=dead&agency=customs&limit=5000", "dev-operator", "", 200},
		{"/v1/admin/overdue?limit=x", "dev-operator", "limit", 400},
		{"/v1/audit?kind=auth.refusd", "dev-auditor", "kind", 400},
		{"/v1/audit?agency=Customs", "dev-auditor", "agency", 400},
		{"/v1/audit?limit=-1", "dev-auditor", "limit", 400},
		{"/v1/audit?kind=auth.refused&agency=customs&limit=10", "dev-auditor", "", 200},
		{"/v1/declarations?limit=abc", traderToken, "limit", 400},
		{"/v1/declarations?plate=12C-12345&limit=1.5", traderToken, "limit", 400},
		{"/v1/decisions?plate=12C-12345&limit=many", "dev-operator", "limit", 400},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp, data := h.do("GET", tc.path, tc.token, nil, "")
			if resp.StatusCode != tc.status {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, tc.status, data)
			}
			if tc.param != "" && !strings.Contains(string(data), "query parameter "+tc.param) {
				t.Fatalf("the problem does not name %s: %s", tc.param, data)
			}
		})
	}

	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/v1/declarations", "GET, HEAD, POST"},
		{"PATCH", "/v1/declarations/D1", "GET, HEAD, PUT"},
		{"GET", "/v1/acks/customs", "POST"},
		{"POST", "/v1/audit", "GET, HEAD"},
		{"PUT", "/healthz", "GET, HEAD"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, data := h.do(tc.method, tc.path, "dev-admin", nil, "")
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
				t.Fatalf("HTTP %d Allow %q, want 405 %q: %s", resp.StatusCode, resp.Header.Get("Allow"), tc.allow, data)
			}
			var p struct{ Status int }
			if json.Unmarshal(data, &p) != nil || p.Status != 405 {
				t.Fatalf("not a problem document: %s", data)
			}
		})
	}
	if resp, _ := h.do("GET", "/v1/nothing-here", "dev-admin", nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: HTTP %d, want 404", resp.StatusCode)
	}
}

// TestVietnameseProblemsAndReasons: with Accept-Language: vi a refused
// declaration is explained in Vietnamese only, and a rejection's
// Vietnamese reason carries the agency's code, not its English text.
func TestVietnameseProblemsAndReasons(t *testing.T) {
	h := start(t, nil)
	req, _ := http.NewRequest("POST", h.url+"/v1/declarations", strings.NewReader(`{"gate":"NOWHERE","vehicle":{"plateVN":"xx"},"colour":"red"}`))
	req.Header.Set("Authorization", "Bearer "+traderToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Language", "vi-VN,vi;q=0.9,en;q=0.5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Title, Detail string
		Errors        []struct{ Pointer, Code, Detail string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Content-Language") != "vi" || len(p.Errors) < 3 {
		t.Fatalf("HTTP %d %s %+v", resp.StatusCode, resp.Header.Get("Content-Language"), p)
	}
	texts := []string{p.Title, p.Detail}
	for _, e := range p.Errors {
		texts = append(texts, e.Detail)
	}
	for _, s := range texts {
		if !hasVietnamese(s) || strings.Contains(s, "must") || strings.Contains(s, "required") || strings.Contains(s, "field") {
			t.Errorf("not Vietnamese: %q", s)
		}
	}

	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, func(m map[string]any) {
		m["vehicle"].(map[string]any)["inspectionCertificate"].(map[string]any)["expiresOn"] = "2026-01-31"
	}))
	h.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool { return ev.Decision.Status == "REJECTED" })
	for _, r := range h.view(v.ID).Decision.Reasons {
		if r.Code != "AGENCY_REJECTED" {
			continue
		}
		if !strings.Contains(r.VI, "VR-INSPECTION-EXPIRED") || !hasVietnamese(r.VI) || strings.Contains(strings.ToLower(r.VI), "certificate") || strings.Contains(strings.ToLower(r.VI), "expired on") {
			t.Errorf("VI reason %q", r.VI)
		}
		return
	}
	t.Fatal("no rejection reason")
}

func hasVietnamese(s string) bool {
	for _, r := range s {
		if r > 127 {
			return true
		}
	}
	return false
}
