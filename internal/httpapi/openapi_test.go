package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gatehub/gatehub/internal/acknowledgements"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/lanes"
	"github.com/gatehub/gatehub/internal/problem"
	"github.com/gatehub/gatehub/internal/views"
)

// The OpenAPI document is decoded generically: the test follows $refs
// itself and needs nothing from the document but maps and lists.
type oaDoc = map[string]any

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

func loadOpenAPI(t *testing.T) oaDoc {
	t.Helper()
	var doc oaDoc
	if err := yaml.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi = %q, want 3.1.x", v)
	}
	return doc
}

func m(v any) map[string]any { r, _ := v.(map[string]any); return r }
func l(v any) []any          { r, _ := v.([]any); return r }

// resolve follows a local $ref ("#/components/…") until it reaches an object
// without one.
func resolve(t *testing.T, doc oaDoc, v any) map[string]any {
	t.Helper()
	obj := m(v)
	for range 10 {
		ref, ok := obj["$ref"].(string)
		if !ok {
			return obj
		}
		obj = lookupRef(doc, ref)
		if obj == nil {
			t.Fatalf("$ref %q does not resolve", ref)
		}
	}
	t.Fatalf("$ref chain too long")
	return nil
}

func lookupRef(doc oaDoc, ref string) map[string]any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		cur = m(cur)[tok]
		if cur == nil {
			return nil
		}
	}
	return m(cur)
}

type operation struct {
	method, path string
	pathItem     map[string]any
	op           map[string]any
}

func (o operation) String() string { return strings.ToUpper(o.method) + " " + o.path }

func operations(doc oaDoc) []operation {
	var out []operation
	for path, item := range m(doc["paths"]) {
		for _, method := range httpMethods {
			if op := m(m(item)[method]); op != nil {
				out = append(out, operation{method, path, m(item), op})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func routeKey(method, pattern string) string { return strings.ToUpper(method) + " " + pattern }

func registeredRoutes() map[string]Route {
	out := map[string]Route{}
	for _, rt := range (&Server{}).Routes() {
		out[routeKey(rt.Method, rt.Pattern)] = rt
	}
	return out
}

// TestOpenAPIMatchesRoutes: every registered route is documented and
// every documented operation is registered.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	routes := registeredRoutes()
	if len(routes) != len((&Server{}).Routes()) {
		t.Fatalf("Routes() registers a method and pattern twice")
	}
	documented := map[string]bool{}
	for _, o := range operations(doc) {
		documented[o.String()] = true
		if _, ok := routes[o.String()]; !ok {
			t.Errorf("%s is documented but not registered in Routes()", o)
		}
	}
	for key := range routes {
		if !documented[key] {
			t.Errorf("%s is registered in Routes() but missing from openapi.yaml", key)
		}
	}
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// params lists an operation's parameters, path-level ones first, with
// $refs resolved, keyed by "in:name".
func params(t *testing.T, doc oaDoc, o operation) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, list := range [][]any{l(o.pathItem["parameters"]), l(o.op["parameters"])} {
		for _, p := range list {
			p := resolve(t, doc, p)
			out[p["in"].(string)+":"+p["name"].(string)] = p
		}
	}
	return out
}

func hasProblemContent(t *testing.T, doc oaDoc, resp any) bool {
	r := resolve(t, doc, resp)
	return m(r["content"])[problem.ContentType] != nil
}

// TestOpenAPIOperations checks each operation on its own: id, responses,
// parameters and security against the route's roles.
func TestOpenAPIOperations(t *testing.T) {
	doc := loadOpenAPI(t)
	routes := registeredRoutes()
	schemes := m(m(doc["components"])["securitySchemes"])
	if got := m(schemes["bearerAuth"]); got["type"] != "http" || got["scheme"] != "bearer" {
		t.Errorf("securitySchemes.bearerAuth = %v, want http bearer", got)
	}
	if got := m(schemes["mutualTLS"]); got["type"] != "mutualTLS" {
		t.Errorf("securitySchemes.mutualTLS = %v, want type mutualTLS", got)
	}
	if _, ok := doc["security"]; ok {
		t.Errorf("top-level security is set; every operation must state its own")
	}
	ids := map[string]string{}
	for _, o := range operations(doc) {
		t.Run(o.String(), func(t *testing.T) {
			id, _ := o.op["operationId"].(string)
			if id == "" {
				t.Errorf("no operationId")
			} else if prev, dup := ids[id]; dup {
				t.Errorf("operationId %q also used by %s", id, prev)
			}
			ids[id] = o.String()

			var success, problems int
			for code, resp := range m(o.op["responses"]) {
				n, err := strconv.Atoi(code)
				if err != nil {
					t.Errorf("response %q: use explicit status codes", code)
					continue
				}
				switch {
				case n >= 200 && n < 300:
					success++
				case n >= 400 && hasProblemContent(t, doc, resp):
					problems++
				}
				if n == http.StatusTooManyRequests && m(resolve(t, doc, resp)["headers"])["Retry-After"] == nil {
					t.Errorf("429 without a Retry-After header")
				}
				if (n == http.StatusServiceUnavailable || n == http.StatusInsufficientStorage) && hasProblemContent(t, doc, resp) &&
					m(resolve(t, doc, resp)["headers"])["Retry-After"] == nil {
					t.Errorf("%d without a Retry-After header", n)
				}
				if n == http.StatusUnauthorized && m(resolve(t, doc, resp)["headers"])["WWW-Authenticate"] == nil {
					t.Errorf("401 without a WWW-Authenticate header")
				}
			}
			if success == 0 {
				t.Errorf("no 2xx response")
			}
			if problems == 0 {
				t.Errorf("no application/problem+json error response")
			}

			ps := params(t, doc, o)
			for _, match := range pathParam.FindAllStringSubmatch(o.path, -1) {
				p := ps["path:"+match[1]]
				if p == nil {
					t.Errorf("path parameter {%s} is not declared", match[1])
				} else if p["required"] != true {
					t.Errorf("path parameter {%s} is not required", match[1])
				}
			}
			for key := range ps {
				if name, ok := strings.CutPrefix(key, "path:"); ok && !strings.Contains(o.path, "{"+name+"}") {
					t.Errorf("path parameter %q is not in the path", name)
				}
			}

			rt, ok := routes[o.String()]
			if !ok {
				return // reported by TestOpenAPIMatchesRoutes
			}
			sec, declared := o.op["security"]
			if !declared {
				t.Fatalf("no security: state it, [] for a public operation")
			}
			reqs := l(sec)
			public := len(rt.Roles) == 0
			if public != (len(reqs) == 0) {
				t.Errorf("security %v does not match roles %v (public ⇔ empty security)", reqs, rt.Roles)
			}
			for _, req := range reqs {
				for name := range m(req) {
					if schemes[name] == nil {
						t.Errorf("security requirement names undefined scheme %q", name)
					}
				}
			}
			if !public {
				for _, code := range []string{"401", "403", "429"} {
					if m(o.op["responses"])[code] == nil {
						t.Errorf("an authenticated operation must document %s", code)
					}
				}
			}
			var roles []string
			for _, r := range l(o.op["x-roles"]) {
				roles = append(roles, r.(string))
			}
			want := slices.Clone(rt.Roles)
			slices.Sort(roles)
			slices.Sort(want)
			if !slices.Equal(roles, want) {
				t.Errorf("x-roles = %v, route roles = %v", roles, want)
			}
			desc, _ := o.op["description"].(string)
			for _, r := range rt.Roles {
				if !strings.Contains(desc, "`"+r+"`") {
					t.Errorf("description does not name role `%s`", r)
				}
			}
		})
	}
}

// TestOpenAPISpecifics pins what particular operations must document.
func TestOpenAPISpecifics(t *testing.T) {
	doc := loadOpenAPI(t)
	ops := map[string]operation{}
	for _, o := range operations(doc) {
		ops[o.String()] = o
	}
	tests := []struct {
		op, param       string // "in:name"
		requestType     string // a media type of the request body
		responseCode    string
		responseType    string
		descriptionHint string
	}{
		{op: "POST /v1/declarations", param: "header:Idempotency-Key", requestType: "application/json", responseCode: "201", responseType: "application/json"},
		{op: "PUT /v1/declarations/{id}", requestType: "application/json", responseCode: "200", responseType: "application/json"},
		{op: "POST /v1/acks/{agency}", requestType: "application/xml", responseCode: "200", responseType: "application/json", descriptionHint: "signature"},
		{op: "GET /v1/messages/{id}", responseCode: "200", responseType: "application/xml"},
		{op: "GET /v1/gates/{gate}/lanes/{lane}/events", param: "header:Last-Event-ID", responseCode: "200", responseType: "text/event-stream"},
		{op: "POST /v1/devices/readings", requestType: "application/json", responseCode: "200", responseType: "application/json"},
		{op: "PUT /v1/admin/gates/{code}", requestType: "application/yaml", responseCode: "200", responseType: "application/json"},
		{op: "GET /v1/decisions", param: "query:plate", responseCode: "200", responseType: "application/json"},
		{op: "GET /v1/audit", param: "query:fromSeq", responseCode: "200", responseType: "application/json"},
		{op: "GET /openapi.yaml", responseCode: "200", responseType: "application/yaml"},
		{op: "GET /metrics", responseCode: "200", responseType: "text/plain"},
	}
	for _, tc := range tests {
		t.Run(tc.op, func(t *testing.T) {
			o, ok := ops[tc.op]
			if !ok {
				t.Fatalf("not documented")
			}
			if tc.param != "" && params(t, doc, o)[tc.param] == nil {
				t.Errorf("parameter %s is not documented", tc.param)
			}
			if tc.requestType != "" {
				body := resolve(t, doc, o.op["requestBody"])
				if m(body["content"])[tc.requestType] == nil {
					t.Errorf("request body has no %s content", tc.requestType)
				}
			}
			resp := resolve(t, doc, m(o.op["responses"])[tc.responseCode])
			if m(resp["content"])[tc.responseType] == nil {
				t.Errorf("response %s has no %s content", tc.responseCode, tc.responseType)
			}
			if tc.descriptionHint != "" && !strings.Contains(o.op["description"].(string), tc.descriptionHint) {
				t.Errorf("description does not mention %q", tc.descriptionHint)
			}
		})
	}
}

// TestOpenAPIRefsResolve walks the whole document: a dangling $ref would
// break every generated client.
func TestOpenAPIRefsResolve(t *testing.T) {
	doc := loadOpenAPI(t)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && lookupRef(doc, ref) == nil {
				t.Errorf("%s: $ref %q does not resolve", path, ref)
			}
			for k, c := range v {
				walk(path+"/"+k, c)
			}
		case []any:
			for i, c := range v {
				walk(path+"/"+strconv.Itoa(i), c)
			}
		}
	}
	walk("", doc)
}

// jsonMembers returns the JSON member names of struct type t and whether
// each is always present (no omitempty/omitzero).
func jsonMembers(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("json") == "" {
			for name, always := range jsonMembers(f.Type) {
				out[name] = always // promoted, as encoding/json does
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		always := !strings.Contains(","+opts+",", ",omitempty,") && !strings.Contains(","+opts+",", ",omitzero,")
		out[name] = always
	}
	return out
}

// TestOpenAPISchemasMatchGoTypes keeps the schemas in step with the Go
// types that are encoded or decoded: the same members, and for responses
// every member the encoder always writes is required.
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	schemas := m(m(doc["components"])["schemas"])
	tests := []struct {
		schema   string
		typ      reflect.Type
		response bool // check required against omitempty
	}{
		{"Declaration", reflect.TypeFor[declaration.Declaration](), false},
		{"Party", reflect.TypeFor[declaration.Party](), false},
		{"Vehicle", reflect.TypeFor[declaration.Vehicle](), false},
		{"Certificate", reflect.TypeFor[declaration.Certificate](), false},
		{"Driver", reflect.TypeFor[declaration.Driver](), false},
		{"Consignment", reflect.TypeFor[declaration.Consignment](), false},
		{"Container", reflect.TypeFor[declaration.Container](), false},
		{"GoodsItem", reflect.TypeFor[declaration.GoodsItem](), false},
		{"Document", reflect.TypeFor[declaration.Document](), false},
		{"Licence", reflect.TypeFor[declaration.Licence](), false},
		{"Reading", reflect.TypeFor[lanes.Reading](), false},
		{"DeclarationView", reflect.TypeFor[views.DeclarationView](), true},
		{"MessageView", reflect.TypeFor[views.MessageView](), true},
		{"AckView", reflect.TypeFor[views.AckView](), true},
		{"AckResult", reflect.TypeFor[acknowledgements.AckResult](), true},
		{"DecisionEvent", reflect.TypeFor[decisions.DecisionEvent](), true},
		{"LaneAnswer", reflect.TypeFor[lanes.Answer](), true},
		{"Decision", reflect.TypeFor[clearance.Decision](), true},
		{"Reason", reflect.TypeFor[clearance.Reason](), true},
		{"Problem", reflect.TypeFor[problem.Problem](), true},
		{"FieldError", reflect.TypeFor[problem.FieldError](), true},
		{"AuditEntry", reflect.TypeFor[AuditEntryView](), true},
	}
	for _, tc := range tests {
		t.Run(tc.schema, func(t *testing.T) {
			s := m(schemas[tc.schema])
			if s == nil {
				t.Fatalf("components.schemas.%s is missing", tc.schema)
			}
			members := jsonMembers(tc.typ)
			props := m(s["properties"])
			for name := range members {
				if props[name] == nil {
					t.Errorf("%s has member %q that the schema lacks", tc.typ, name)
				}
			}
			for name := range props {
				if _, ok := members[name]; !ok {
					t.Errorf("schema property %q is not a member of %s", name, tc.typ)
				}
			}
			if !tc.response {
				if ap, ok := s["additionalProperties"]; !ok || ap != false {
					t.Errorf("request schema must set additionalProperties: false (the decoder refuses unknown fields)")
				}
				return
			}
			required := map[string]bool{}
			for _, r := range l(s["required"]) {
				required[r.(string)] = true
			}
			for name, always := range members {
				if always != required[name] {
					t.Errorf("member %q: always encoded = %t, required in schema = %t", name, always, required[name])
				}
			}
		})
	}
}

func TestOpenAPIServed(t *testing.T) {
	srv := httptest.NewServer((&Server{Log: slog.New(slog.DiscardHandler)}).Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /openapi.yaml = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if string(body) != string(openAPIDocument) {
		t.Fatalf("served document differs from the embedded openapi.yaml")
	}
}
