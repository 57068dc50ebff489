package console

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/problem"
)

// The declaration form names every input by the JSON pointer of the field
// it fills (name="/vehicle/plateVN"), so that the API's problem+json
// pointers land next to their inputs without a translation table, and the
// JSON the form builds is the API's own body.

type fieldKind int

const (
	kText fieldKind = iota
	kNumber
	kInteger
	kDate
	kDateTime
	kSelect
	kList // comma-separated strings → array
)

// fieldSpec is one input; Ptr is relative to its group's base pointer.
type fieldSpec struct {
	Ptr      string
	Label    string // i18n key
	Kind     fieldKind
	Options  []string
	Required bool
	// Hint is an i18n key shown under the input (format examples).
	Hint string
	// ZH marks a field that carries Chinese-side data: its label is also
	// given in Chinese.
	ZH string
}

type groupSpec struct {
	Legend string // i18n key
	Base   string // pointer prefix
	Fields []fieldSpec
}

var partyFields = []fieldSpec{
	{Ptr: "/name", Label: "f.name", Required: true},
	{Ptr: "/nameCN", Label: "f.nameCN", ZH: "中文名称"},
	{Ptr: "/taxCode", Label: "f.taxCode"},
	{Ptr: "/address", Label: "f.address"},
	{Ptr: "/country", Label: "f.country", Required: true, Hint: "h.country"},
}

var formGroups = []groupSpec{
	{Legend: "g.crossing", Base: "", Fields: []fieldSpec{
		{Ptr: "/direction", Label: "f.direction", Kind: kSelect, Options: []string{"export", "import", "transit"}, Required: true},
		{Ptr: "/cargoKind", Label: "f.cargoKind", Kind: kSelect, Options: []string{"general", "perishable", "dangerous", "empty"}, Required: true},
		{Ptr: "/gate", Label: "f.gate", Kind: kSelect, Required: true},
		{Ptr: "/lane", Label: "f.lane"},
		{Ptr: "/plannedCrossing", Label: "f.plannedCrossing", Kind: kDateTime, Required: true, Hint: "h.localTime"},
		{Ptr: "/customsDeclarationNumbers", Label: "f.customsNumbers", Kind: kList, Required: true, Hint: "h.list"},
	}},
	{Legend: "g.trader", Base: "/trader", Fields: partyFields},
	{Legend: "g.vehicle", Base: "/vehicle", Fields: []fieldSpec{
		{Ptr: "/plateVN", Label: "f.plateVN", Hint: "h.plateVN"},
		{Ptr: "/plateCN", Label: "f.plateCN", ZH: "中国车牌", Hint: "h.plateCN"},
		{Ptr: "/trailerPlate", Label: "f.trailerPlate"},
		{Ptr: "/vin", Label: "f.vin", Required: true},
		{Ptr: "/grossWeightKg", Label: "f.grossWeightKg", Kind: kNumber, Required: true},
		{Ptr: "/tareWeightKg", Label: "f.tareWeightKg", Kind: kNumber, Required: true},
		{Ptr: "/inspectionCertificate/number", Label: "f.inspectionNumber", Required: true},
		{Ptr: "/inspectionCertificate/expiresOn", Label: "f.inspectionExpires", Kind: kDate, Required: true},
		{Ptr: "/crossBorderPermit/number", Label: "f.permitNumber", Required: true},
		{Ptr: "/crossBorderPermit/expiresOn", Label: "f.permitExpires", Kind: kDate, Required: true},
	}},
	{Legend: "g.consignor", Base: "/consignor", Fields: partyFields},
	{Legend: "g.consignee", Base: "/consignee", Fields: partyFields},
}

var driverFields = []fieldSpec{
	{Ptr: "/name", Label: "f.name", Required: true},
	{Ptr: "/nameCN", Label: "f.nameCN", ZH: "中文姓名"},
	{Ptr: "/nationality", Label: "f.nationality", Required: true, Hint: "h.country"},
	{Ptr: "/idNumber", Label: "f.idNumber"},
	{Ptr: "/passport", Label: "f.passport"},
	{Ptr: "/borderPass/number", Label: "f.borderPass", Required: true},
	{Ptr: "/borderPass/expiresOn", Label: "f.borderPassExpires", Kind: kDate, Required: true},
}

var consignmentFields = []fieldSpec{
	{Ptr: "/hsCodeVN", Label: "f.hsCodeVN", Required: true, Hint: "h.hsCodeVN"},
	{Ptr: "/hsCodeCN", Label: "f.hsCodeCN", Required: true, Hint: "h.hsCodeCN"},
	{Ptr: "/description", Label: "f.description", Required: true},
	{Ptr: "/descriptionCN", Label: "f.descriptionCN", ZH: "中文品名"},
	{Ptr: "/packages", Label: "f.packages", Kind: kInteger, Required: true},
	{Ptr: "/packageKind", Label: "f.packageKind", Required: true, Hint: "h.packageKind"},
	{Ptr: "/grossWeightKg", Label: "f.grossWeightKg", Kind: kNumber, Required: true},
	{Ptr: "/value", Label: "f.value", Kind: kNumber, Required: true},
	{Ptr: "/currency", Label: "f.currency", Required: true, Hint: "h.currency"},
	{Ptr: "/containers/0/number", Label: "f.container"},
	{Ptr: "/containers/0/seal", Label: "f.seal"},
}

const maxRows = 50

// declForm is the form's state: values by pointer, the rows of the
// repeated groups, and the errors of the last submission by pointer.
type declForm struct {
	Values       map[string]string
	Drivers      int
	Consignments int
	Errors       map[string][]string // pointer of an input → messages
	Orphans      []problem.FieldError
	Gates        []string
	// Extra are fields the form has no input for (more containers than one,
	// fields from an uploaded file), kept so a round trip loses nothing.
	Extra map[string]json.RawMessage
}

func newDeclForm(gates []string) *declForm {
	return &declForm{Values: map[string]string{}, Drivers: 1, Consignments: 1, Errors: map[string][]string{}, Gates: gates, Extra: map[string]json.RawMessage{}}
}

// input is one rendered input.
type input struct {
	Name, ID, Label, ZH, Hint, Value string
	Kind                             string
	Options                          []string
	Required                         bool
	Errors                           []string
}

type group struct {
	Legend string
	Index  int // row number for repeated groups (0 = not repeated)
	Remove string
	Inputs []input
}

func (f *declForm) inputs(base string, specs []fieldSpec) []input {
	out := make([]input, 0, len(specs))
	for _, sp := range specs {
		ptr := base + sp.Ptr
		in := input{Name: ptr, ID: "f" + strings.ReplaceAll(ptr, "/", "-"), Label: sp.Label, ZH: sp.ZH, Hint: sp.Hint,
			Value: f.Values[ptr], Required: sp.Required, Errors: f.Errors[ptr], Options: sp.Options}
		switch sp.Kind {
		case kNumber, kInteger:
			in.Kind = "number"
		case kDate:
			in.Kind = "date"
		case kDateTime:
			in.Kind = "datetime-local"
		case kSelect:
			in.Kind = "select"
		default:
			in.Kind = "text"
		}
		if ptr == "/gate" {
			in.Options = f.Gates
		}
		out = append(out, in)
	}
	return out
}

// Fixed returns the groups before the repeated ones (crossing, trader,
// vehicle) and FixedAfter those after them (consignor, consignee).
func (f *declForm) Fixed() []group {
	var out []group
	for _, g := range formGroups[:3] {
		out = append(out, group{Legend: g.Legend, Inputs: f.inputs(g.Base, g.Fields)})
	}
	return out
}

func (f *declForm) FixedAfter() []group {
	var out []group
	for _, g := range formGroups[3:] {
		out = append(out, group{Legend: g.Legend, Inputs: f.inputs(g.Base, g.Fields)})
	}
	return out
}

func (f *declForm) DriverRows() []group {
	out := make([]group, f.Drivers)
	for i := range out {
		out[i] = group{Legend: "g.driver", Index: i + 1, Remove: fmt.Sprintf("remove-driver-%d", i), Inputs: f.inputs(fmt.Sprintf("/drivers/%d", i), driverFields)}
	}
	return out
}

func (f *declForm) ConsignmentRows() []group {
	out := make([]group, f.Consignments)
	for i := range out {
		out[i] = group{Legend: "g.consignment", Index: i + 1, Remove: fmt.Sprintf("remove-consignment-%d", i), Inputs: f.inputs(fmt.Sprintf("/consignments/%d", i), consignmentFields)}
	}
	return out
}

// ErrorCount is how many messages the form shows.
func (f *declForm) ErrorCount() int {
	n := len(f.Orphans)
	for _, e := range f.Errors {
		n += len(e)
	}
	return n
}

// Summary lists every error with the id of its input, in form order.
type summaryItem struct {
	ID, Group, Label, Detail string
	Index                    int
}

func (f *declForm) Summary() []summaryItem {
	var out []summaryItem
	all := [][]group{f.Fixed(), f.DriverRows(), f.ConsignmentRows(), f.FixedAfter()}
	for _, gs := range all {
		for _, g := range gs {
			for _, in := range g.Inputs {
				for _, e := range in.Errors {
					out = append(out, summaryItem{ID: in.ID, Group: g.Legend, Index: g.Index, Label: in.Label, Detail: e})
				}
			}
		}
	}
	return out
}

// specOf returns the spec of pointer ptr, if the form has an input for it.
func specOf(ptr string) (fieldSpec, bool) {
	for _, g := range formGroups {
		if strings.HasPrefix(ptr, g.Base+"/") || g.Base == "" {
			for _, sp := range g.Fields {
				if g.Base+sp.Ptr == ptr {
					return sp, true
				}
			}
		}
	}
	for _, rep := range []struct {
		base  string
		specs []fieldSpec
	}{{"/drivers/", driverFields}, {"/consignments/", consignmentFields}} {
		if rest, ok := strings.CutPrefix(ptr, rep.base); ok {
			i := strings.IndexByte(rest, '/')
			if i <= 0 {
				continue
			}
			if _, err := strconv.Atoi(rest[:i]); err != nil {
				continue
			}
			for _, sp := range rep.specs {
				if rest[i:] == sp.Ptr {
					return sp, true
				}
			}
		}
	}
	return fieldSpec{}, false
}

// readForm fills f from a posted form.
func readForm(f *declForm, form url.Values) {
	f.Drivers = clampRows(form.Get("_drivers"), 1)
	f.Consignments = clampRows(form.Get("_consignments"), 1)
	for k, vs := range form {
		if !strings.HasPrefix(k, "/") || len(vs) == 0 {
			continue
		}
		if _, ok := specOf(k); ok {
			f.Values[k] = strings.TrimSpace(vs[0])
		}
	}
	if raw := form.Get("_extra"); raw != "" {
		_ = json.Unmarshal([]byte(raw), &f.Extra)
	}
}

func clampRows(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return def
	}
	return min(n, maxRows)
}

// removeRow drops row i of the repeated group at base ("/drivers") and
// renumbers the rows after it.
func (f *declForm) removeRow(base string, i int, rows *int) {
	if i < 0 || i >= *rows {
		return
	}
	next := map[string]string{}
	prefix := base + "/"
	for k, v := range f.Values {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			next[k] = v
			continue
		}
		j := strings.IndexByte(rest, '/')
		n, err := strconv.Atoi(rest[:max(j, 0)])
		if j <= 0 || err != nil {
			continue
		}
		switch {
		case n < i:
			next[k] = v
		case n > i:
			next[fmt.Sprintf("%s%d%s", prefix, n-1, rest[j:])] = v
		}
	}
	f.Values = next
	extra := map[string]json.RawMessage{}
	for k, v := range f.Extra {
		if !strings.HasPrefix(k, prefix) {
			extra[k] = v
		}
	}
	f.Extra = extra
	*rows--
}

// JSON builds the API body from the form: empty inputs are left out, so
// that a missing field is reported as missing, not as malformed.
func (f *declForm) JSON() ([]byte, error) {
	root := map[string]any{}
	keys := make([]string, 0, len(f.Values))
	for k := range f.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, ptr := range keys {
		v := f.Values[ptr]
		if v == "" {
			continue
		}
		if !f.rowExists(ptr) {
			continue
		}
		sp, _ := specOf(ptr)
		setPointer(root, ptr, typed(sp.Kind, v))
	}
	for ptr, raw := range f.Extra {
		if f.rowExists(ptr) {
			if _, taken := f.Values[ptr]; !taken {
				setPointer(root, ptr, raw)
			}
		}
	}
	// Every row the trader added is in the body, even left empty, so that
	// its missing fields are reported rather than the row silently dropped.
	for i := range f.Drivers {
		ensureRow(root, "drivers", i)
	}
	for i := range f.Consignments {
		ensureRow(root, "consignments", i)
	}
	return json.Marshal(root)
}

func (f *declForm) rowExists(ptr string) bool {
	for _, rep := range []struct {
		base string
		rows int
	}{{"/drivers/", f.Drivers}, {"/consignments/", f.Consignments}} {
		if rest, ok := strings.CutPrefix(ptr, rep.base); ok {
			j := strings.IndexByte(rest, '/')
			if j < 0 {
				j = len(rest)
			}
			n, err := strconv.Atoi(rest[:j])
			return err == nil && n < rep.rows
		}
	}
	return true
}

func ensureRow(root map[string]any, key string, i int) {
	arr, _ := root[key].([]any)
	for len(arr) <= i {
		arr = append(arr, map[string]any{})
	}
	if arr[i] == nil {
		arr[i] = map[string]any{}
	}
	root[key] = arr
}

// typed converts an input's text to the JSON the API expects; text that is
// not a number stays a string, so the API names the field as mistyped.
func typed(k fieldKind, v string) any {
	switch k {
	case kNumber, kInteger:
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			return json.Number(v)
		}
	case kDateTime:
		// datetime-local has no zone: it is the gate's local time.
		for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
			if t, err := time.ParseInLocation(layout, v, gateZone); err == nil {
				return t.Format(time.RFC3339)
			}
		}
	case kList:
		var out []any
		for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' }) {
			out = append(out, p)
		}
		return out
	}
	return v
}

// setPointer stores v at ptr in root, making objects and arrays on the way
// (a numeric segment is an array index).
func setPointer(root map[string]any, ptr string, v any) {
	segs := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	root[segs[0]] = setIn(root[segs[0]], segs[1:], v)
}

func setIn(node any, segs []string, v any) any {
	if len(segs) == 0 {
		return v
	}
	seg, rest := segs[0], segs[1:]
	if idx, err := strconv.Atoi(seg); err == nil && idx >= 0 && idx < 1000 {
		arr, _ := node.([]any)
		for len(arr) <= idx {
			arr = append(arr, nil)
		}
		arr[idx] = setIn(arr[idx], rest, v)
		return arr
	}
	m, ok := node.(map[string]any)
	if !ok {
		m = map[string]any{}
	}
	m[seg] = setIn(m[seg], rest, v)
	return m
}

// fillFromJSON fills f from a declaration body (an uploaded file, or the
// current version for an amendment): every leaf with an input goes to the
// form, the others to Extra.
func fillFromJSON(f *declForm, body []byte) error {
	var root any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return err
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return fmt.Errorf("a declaration is a JSON object")
	}
	if ds, ok := obj["drivers"].([]any); ok {
		f.Drivers = min(len(ds), maxRows)
	}
	if cs, ok := obj["consignments"].([]any); ok {
		f.Consignments = min(len(cs), maxRows)
	}
	var walk func(ptr string, v any)
	walk = func(ptr string, v any) {
		if sp, ok := specOf(ptr); ok {
			f.Values[ptr] = leafText(sp.Kind, v)
			return
		}
		switch t := v.(type) {
		case map[string]any:
			for k, c := range t {
				walk(ptr+"/"+k, c)
			}
		case []any:
			for i, c := range t {
				walk(fmt.Sprintf("%s/%d", ptr, i), c)
			}
		default:
			raw, _ := json.Marshal(v)
			f.Extra[ptr] = raw
		}
	}
	for k, v := range obj {
		walk("/"+k, v)
	}
	return nil
}

func leafText(k fieldKind, v any) string {
	switch t := v.(type) {
	case string:
		if k == kDateTime {
			if ts, err := time.Parse(time.RFC3339, t); err == nil {
				return ts.In(gateZone).Format("2006-01-02T15:04")
			}
		}
		return t
	case json.Number:
		return t.String()
	case []any:
		parts := make([]string, 0, len(t))
		for _, e := range t {
			parts = append(parts, fmt.Sprint(e))
		}
		return strings.Join(parts, ", ")
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// placeErrors puts each field error next to the input of its pointer, or
// of the nearest enclosing pointer that has one (an error on
// /customsDeclarationNumbers/1 goes to the list's input); the rest are
// shown above the form.
func (f *declForm) placeErrors(errs []problem.FieldError) {
	for _, e := range errs {
		ptr := e.Pointer
		placed := false
		for ptr != "" {
			if _, ok := specOf(ptr); ok && f.rowExists(ptr) {
				f.Errors[ptr] = append(f.Errors[ptr], e.Detail)
				placed = true
				break
			}
			i := strings.LastIndexByte(ptr, '/')
			if i < 0 {
				break
			}
			ptr = ptr[:i]
		}
		if !placed {
			f.Orphans = append(f.Orphans, e)
		}
	}
}

// ExtraJSON is Extra for the hidden round-trip field.
func (f *declForm) ExtraJSON() string {
	if len(f.Extra) == 0 {
		return ""
	}
	b, _ := json.Marshal(f.Extra)
	return string(b)
}
