package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/auth"
	"github.com/gatehub/gatehub/internal/httpapi"
)

// roleTokens holds one development token per role; "none" sends no
// credentials at all.
var roleTokens = []struct{ role, token string }{
	{"none", ""},
	{auth.RoleTrader, traderToken},
	{auth.RoleAgency, "dev-agency-customs"},
	{auth.RoleDevice, "dev-HUUNGHI-EXP-1-camera"},
	{auth.RoleOperator, operatorToken},
	{auth.RoleAuditor, "dev-auditor"},
	{auth.RoleAdmin, adminDevToken},
}

// Ids that exist nowhere, for routes that change state: the matrix is
// about who may call a route, and must not cancel or redrive anything.
const (
	noDeclaration = "D00000000000000000000000000"
	noMessage     = "00000000-0000-4000-8000-000000000000"
)

// matrixRequest fills a route's path parameters and gives it a body that
// reaches the handler without side effects.
func matrixRequest(rt httpapi.Route, declID, msgID string) (path string, body string, contentType string) {
	mutating := rt.Method != "GET"
	r := strings.NewReplacer(
		"{gate}", "HUUNGHI", "{lane}", "EXP-1", "{agency}", "customs", "{code}", "HUUNGHI",
	)
	path = r.Replace(rt.Pattern)
	switch {
	case strings.HasPrefix(rt.Pattern, "/v1/declarations/{id}"):
		id := declID
		if mutating {
			id = noDeclaration
		}
		path = strings.Replace(path, "{id}", id, 1)
	case strings.HasPrefix(rt.Pattern, "/v1/messages/{id}"):
		path = strings.Replace(path, "{id}", msgID, 1)
	default:
		path = strings.Replace(path, "{id}", noMessage, 1)
	}
	switch rt.Pattern {
	case "/v1/decisions":
		path += "?plate=12C-12345"
	case "/v1/acks/{agency}":
		return path, "<not-an-ack/>", "application/xml"
	case "/v1/admin/gates/{code}":
		return path, "", "application/yaml" // empty: refused as invalid, nothing applied
	}
	if mutating {
		return path, "{}", "application/json"
	}
	return path, "", ""
}

func TestEndpointRoleMatrix(t *testing.T) {
	h := launch(t, baseConfig(t), app.Options{})
	events, _ := h.laneStream(t, "HUUNGHI", "EXP-1", operatorToken, "")
	v := h.submit(sample(t, nil))
	next(t, events, "CLEARED", decisionFor(v.ID, "CLEARED"))
	var customsMsg string
	for _, m := range h.view(v.ID).Messages {
		if m.Agency == "customs" {
			customsMsg = m.ID
		}
	}

	routes := (&httpapi.Server{}).Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, rt := range routes {
		// On a public route credentials change nothing: every caller gets
		// what an anonymous one gets. (POST /v1/acks/{agency} authenticates
		// by the signature in the body, so an unsigned one is refused for all.)
		anonymous := 0
		for _, rc := range roleTokens {
			t.Run(rt.Method+" "+rt.Pattern+" as "+rc.role, func(t *testing.T) {
				path, body, ct := matrixRequest(rt, v.ID, customsMsg)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel() // ends the event stream once its status is known
				req, err := http.NewRequestWithContext(ctx, rt.Method, h.url+path, strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if ct != "" {
					req.Header.Set("Content-Type", ct)
				}
				if rc.token != "" {
					req.Header.Set("Authorization", "Bearer "+rc.token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				got := resp.StatusCode
				switch {
				case len(rt.Roles) == 0 && rc.role == "none":
					anonymous = got
					if got == http.StatusUnauthorized || (got == http.StatusForbidden && rt.Pattern != "/v1/acks/{agency}") || got >= 500 {
						t.Fatalf("public route answered %d", got)
					}
				case len(rt.Roles) == 0:
					if got != anonymous {
						t.Fatalf("public route answered %d to %s, %d without credentials", got, rc.role, anonymous)
					}
				case rc.role == "none":
					if got != http.StatusUnauthorized {
						t.Fatalf("no credentials: HTTP %d, want 401", got)
					}
					if resp.Header.Get("WWW-Authenticate") == "" {
						t.Error("401 without WWW-Authenticate")
					}
				case !slices.Contains(rt.Roles, rc.role):
					if got != http.StatusForbidden {
						t.Fatalf("role %s not in %v: HTTP %d, want 403", rc.role, rt.Roles, got)
					}
				default:
					if got == http.StatusUnauthorized || got == http.StatusForbidden || got >= 500 {
						t.Fatalf("allowed role %s: HTTP %d", rc.role, got)
					}
				}
			})
		}
	}
	if h.auditCount(t, "auth.refused") == 0 {
		t.Error("refused calls left no auth.refused audit entry")
	}
}

func TestDataScoping(t *testing.T) {
	h := launch(t, baseConfig(t), app.Options{})
	events, _ := h.laneStream(t, "HUUNGHI", "EXP-1", operatorToken, "")
	v := h.submit(sample(t, nil))
	next(t, events, "CLEARED", decisionFor(v.ID, "CLEARED"))
	msgs := map[string]string{}
	for _, m := range h.view(v.ID).Messages {
		msgs[m.Agency] = m.ID
	}
	const other = "dev-trader-0202345678"
	otherDecl := sample(t, func(m map[string]any) {
		withSerial("70001")(m)
		m["trader"].(map[string]any)["taxCode"] = "0202345678"
		m["consignor"].(map[string]any)["taxCode"] = "0202345678"
	})

	tests := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"owner sees the declaration", "GET", "/v1/declarations/" + v.ID, traderToken, "", 200},
		{"other trader: declaration", "GET", "/v1/declarations/" + v.ID, other, "", 404},
		{"other trader: decision", "GET", "/v1/declarations/" + v.ID + "/decision", other, "", 404},
		{"other trader: message", "GET", "/v1/messages/" + msgs["customs"], other, "", 404},
		{"other trader: cancel", "POST", "/v1/declarations/" + v.ID + "/cancel", other, "", 404},
		{"other trader: amend with own tax code", "PUT", "/v1/declarations/" + v.ID, other, string(otherDecl), 404},
		{"other trader: declare for someone else", "POST", "/v1/declarations", other, string(sample(t, withSerial("70002"))), 400},
		{"owner sees the message", "GET", "/v1/messages/" + msgs["customs"], traderToken, "", 200},
		{"customs reads its message", "GET", "/v1/messages/" + msgs["customs"], "dev-agency-customs", "", 200},
		{"customs reads the border guard's message", "GET", "/v1/messages/" + msgs["borderguard"], "dev-agency-customs", "", 404},
		{"customs reads Guangxi's message", "GET", "/v1/messages/" + msgs["guangxi"], "dev-agency-customs", "", 404},
		{"border guard reads its message", "GET", "/v1/messages/" + msgs["borderguard"], "dev-agency-borderguard", "", 200},
		{"customs posts an ACK as the border guard", "POST", "/v1/acks/borderguard", "dev-agency-customs", "<x/>", 403},
		{"device on its own lane stream", "GET", "/v1/gates/HUUNGHI/lanes/EXP-1/events", "dev-HUUNGHI-EXP-1-barrier", "", 200},
		{"device on another lane's stream", "GET", "/v1/gates/HUUNGHI/lanes/EXP-2/events", "dev-HUUNGHI-EXP-1-barrier", "", 403},
		{"device on another gate's stream", "GET", "/v1/gates/TANTHANH/lanes/EXP-1/events", "dev-HUUNGHI-EXP-1-barrier", "", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, tc.method, h.url+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+tc.token)
			switch {
			case strings.HasPrefix(tc.body, "<"):
				req.Header.Set("Content-Type", "application/xml")
			case tc.body != "":
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("HTTP %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	// Nothing the other trader tried changed the declaration.
	if got := h.view(v.ID); got.Status != "active" || got.Version != 1 {
		t.Fatalf("declaration now %s v%d", got.Status, got.Version)
	}

	// Lists are scoped too: the other trader lists none of it, a device of
	// another gate finds no decision for the plate.
	resp, data := h.call(t, "GET", "/v1/declarations", other, nil, nil)
	if resp.StatusCode != 200 || strings.Contains(string(data), v.ID) {
		t.Fatalf("other trader's list: HTTP %d %s", resp.StatusCode, data)
	}
	resp, data = h.call(t, "GET", "/v1/declarations?plate=12C-12345", other, nil, nil)
	if resp.StatusCode != 200 || strings.Contains(string(data), v.ID) {
		t.Fatalf("other trader's plate search: HTTP %d %s", resp.StatusCode, data)
	}
	for _, c := range []struct {
		token string
		n     int
	}{{"dev-HUUNGHI-EXP-2-camera", 1}, {"dev-TANTHANH-EXP-1-camera", 0}} {
		resp, data = h.call(t, "GET", "/v1/decisions?plate=12C-12345", c.token, nil, nil)
		var out struct {
			Decisions []json.RawMessage `json:"decisions"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(data, &out) != nil || len(out.Decisions) != c.n {
			t.Fatalf("%s: decisions by plate: HTTP %d %s, want %d", c.token, resp.StatusCode, data, c.n)
		}
	}
}

// Devices authenticate as themselves and act only on their own lane and gate.
func TestDeviceAuthAndLaneIsolation(t *testing.T) {
	h := launch(t, baseConfig(t), app.Options{})
	events, _ := h.laneStream(t, "HUUNGHI", "EXP-1", operatorToken, "")
	v := h.submit(sample(t, nil))
	next(t, events, "CLEARED", decisionFor(v.ID, "CLEARED"))

	readings := []struct {
		name, token, body string
		wantDecl          bool
		action            string
	}{
		{"HUUNGHI gate-in camera", "dev-HUUNGHI-GATE-1-camera", `{"kind":"plate","plate":"12C-12345","confidence":0.97}`, true, "OPEN"},
		{"TANTHANH camera, same plate", "dev-TANTHANH-EXP-1-camera", `{"kind":"plate","plate":"12C-12345","confidence":0.97}`, false, "KEEP-CLOSED"},
		{"TANTHANH QR of the HUUNGHI declaration", "dev-TANTHANH-EXP-1-qr", `{"kind":"qr","code":"` + v.ID + `"}`, false, "KEEP-CLOSED"},
		{"HUUNGHI import lane, same plate", "dev-HUUNGHI-IMP-1-camera", `{"kind":"plate","plate":"12C-12345","confidence":0.97}`, false, "KEEP-CLOSED"},
	}
	for _, tc := range readings {
		t.Run(tc.name, func(t *testing.T) {
			ans := h.reading(t, tc.token, tc.body)
			if (ans.DeclarationID != "") != tc.wantDecl || ans.Action != tc.action {
				t.Fatalf("matched %q, action %s", ans.DeclarationID, ans.Action)
			}
			if !tc.wantDecl && ans.Token != "" {
				t.Fatal("an answer about no declaration carries a signed token")
			}
			if g := strings.SplitN(tc.token, "-", 3)[1]; ans.Gate != g {
				t.Fatalf("answer for gate %s, device of %s", ans.Gate, g)
			}
		})
	}

	before := h.auditCount(t, "auth.refused")
	for _, tc := range []struct{ name, header string }{
		{"unknown token", "Bearer dev-HUUNGHI-EXP-9-camera"},
		{"hash instead of token", "Bearer " + auth.HashToken("dev-HUUNGHI-EXP-1-camera")},
		{"basic auth", "Basic ZGV2OmRldg=="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := h.call(t, "POST", "/v1/devices/readings", "", []byte(`{"kind":"plate","plate":"12C-12345","confidence":0.97}`),
				http.Header{"Content-Type": {"application/json"}, "Authorization": {tc.header}})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("HTTP %d, want 401", resp.StatusCode)
			}
		})
	}
	if got := h.auditCount(t, "auth.refused"); got != before+3 {
		t.Fatalf("auth.refused entries %d → %d, want 3 more", before, got)
	}
}
