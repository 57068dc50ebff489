package declaration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatehub/gatehub/internal/problem"
)

// DefaultMaxBytes bounds a declaration body; a full truck with 200
// consignments fits in well under 256 KiB.
const DefaultMaxBytes = 256 << 10

// maxErrors caps the field errors of one response: a hostile 256 KiB body
// of unknown keys would otherwise produce a multi-megabyte answer.
const maxErrors = 100

// Gates answers whether gate and lane codes exist (deploy/gates).
type Gates interface {
	KnownGate(code string) bool
	KnownLane(gate, lane string) bool
}

// Options tune Decode and Validate.
type Options struct {
	MaxBytes int64     // body limit; <= 0 means DefaultMaxBytes
	Gates    Gates     // nil skips the gate and lane look-ups
	Now      time.Time // reference time for plannedCrossing; zero means time.Now()
	// Codes are the code lists countries, currencies, package kinds, units
	// and documents are checked against; nil means the shipped ones. The
	// hub passes the lists its mappings were loaded with.
	Codes CodeLists
}

func (o Options) codes() CodeLists {
	if o.Codes == nil {
		return shippedLists()
	}
	return o.Codes
}

func (o Options) maxBytes() int64 {
	if o.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return o.MaxBytes
}

func (o Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// Decode reads one JSON declaration, normalises and validates it.
//
// Client mistakes come back as a *problem.Problem: 413 when the body exceeds
// opt.MaxBytes (or an http.MaxBytesReader around r trips), 400 malformed-body
// for empty bodies, syntax errors (with byte offset) and trailing data, and
// 400 validation listing every unknown field, wrong JSON type, duplicate key
// and violated rule at once. Any other error is an I/O failure reading r.
func Decode(r io.Reader, opt Options) (*Declaration, error) {
	limit := opt.maxBytes()
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, problem.TooLarge(mbe.Limit)
		}
		return nil, fmt.Errorf("declaration: reading body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, problem.TooLarge(limit)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, problem.MalformedBody("the request body is empty; expected one JSON object")
	}

	var d Declaration
	dec := newWalker(body)
	if err := dec.value(reflect.ValueOf(&d).Elem(), ""); err != nil {
		return nil, err
	}
	if err := dec.end(); err != nil {
		return nil, err
	}

	// Rule violations are reported together with decoding errors so the
	// trader fixes everything in one round trip; a field already reported
	// as unknown, mistyped or duplicated is not reported again as, say,
	// "required" because its value could not be read.
	d.Normalize()
	for _, fe := range d.Validate(opt) {
		if !dec.covered(fe.Pointer) {
			dec.add(fe)
		}
	}
	if len(dec.errs) > 0 {
		return nil, dec.problem()
	}
	return &d, nil
}

// walker decodes JSON tokens straight into the Declaration by reflection.
// encoding/json cannot be used directly: DisallowUnknownFields stops at the
// first unknown key, Unmarshal stops at the first type error, keys match
// case-insensitively and duplicate keys silently keep the last value — a
// parser differential with agencies' systems that we refuse.
type walker struct {
	body []byte
	dec  *json.Decoder
	errs []problem.FieldError
	bad  map[string]bool // pointers with decoding errors
}

func newWalker(body []byte) *walker {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return &walker{body: body, dec: dec, bad: make(map[string]bool)}
}

func (w *walker) add(fe problem.FieldError) {
	w.errs = append(w.errs, fe)
}

func (w *walker) fail(ptr, code, detail string) {
	w.bad[ptr] = true
	w.add(problem.FieldError{Pointer: ptr, Code: code, Detail: detail})
}

// covered reports whether ptr is at or below a pointer that failed decoding.
func (w *walker) covered(ptr string) bool {
	for {
		if w.bad[ptr] {
			return true
		}
		i := strings.LastIndexByte(ptr, '/')
		if i < 0 {
			return false
		}
		ptr = ptr[:i]
	}
}

func (w *walker) problem() *problem.Problem {
	sortByDocumentOrder(w.errs)
	total := len(w.errs)
	if total <= maxErrors {
		return problem.Validation(w.errs)
	}
	p := problem.Validation(w.errs[:maxErrors:maxErrors])
	p.Detail = fmt.Sprintf("%d field(s) failed validation; the first %d are listed", total, maxErrors)
	return p
}

// token returns the next token, turning syntax and truncation errors into
// a malformed-body problem, which ends decoding: after a syntax error no
// later position in the body can be trusted.
func (w *walker) token() (json.Token, error) {
	tok, err := w.dec.Token()
	if err == nil {
		return tok, nil
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return nil, problem.MalformedBody(fmt.Sprintf("invalid JSON at byte offset %d: %s", se.Offset, se.Error()))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, problem.MalformedBody(fmt.Sprintf("invalid JSON at byte offset %d: unexpected end of input", len(w.body)))
	default:
		return nil, problem.MalformedBody(fmt.Sprintf("invalid JSON near byte offset %d: %s", w.dec.InputOffset(), err))
	}
}

// end rejects anything but whitespace after the top-level value, so two
// concatenated declarations never pass as the first one.
func (w *walker) end() error {
	off := w.dec.InputOffset()
	rest := w.body[off:]
	trimmed := bytes.TrimLeft(rest, " \t\r\n")
	if len(trimmed) == 0 {
		return nil
	}
	at := off + int64(len(rest)-len(trimmed))
	return problem.MalformedBody(fmt.Sprintf("unexpected data at byte offset %d after the JSON object", at))
}

// value decodes one JSON value at ptr into v.
func (w *walker) value(v reflect.Value, ptr string) error {
	start := w.dec.InputOffset()
	tok, err := w.token()
	if err != nil {
		return err
	}
	if tok == nil { // null: the field is absent; rules decide whether that is fine
		if ptr == "" {
			w.fail(ptr, "type", "must be an object, got null")
			return nil
		}
		v.SetZero()
		return nil
	}
	if v.Kind() == reflect.Pointer {
		// An optional value whose zero is meaningful (a reefer set to 0 °C).
		v.Set(reflect.New(v.Type().Elem()))
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		if tok != json.Delim('{') {
			return w.mismatch(tok, ptr, "an object")
		}
		return w.object(v, ptr)
	case reflect.Slice:
		if tok != json.Delim('[') {
			return w.mismatch(tok, ptr, "an array")
		}
		return w.array(v, ptr)
	case reflect.String:
		s, ok := tok.(string)
		if !ok {
			return w.mismatch(tok, ptr, "a string")
		}
		// encoding/json silently replaces invalid UTF-8 with U+FFFD, so
		// the raw bytes are the only place the damage is visible.
		if !utf8.Valid(w.body[start:w.dec.InputOffset()]) {
			w.fail(ptr, "invalid_characters", "must be valid UTF-8")
			return nil
		}
		v.SetString(s)
	case reflect.Float64:
		n, ok := tok.(json.Number)
		if !ok {
			return w.mismatch(tok, ptr, "a number")
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			w.fail(ptr, "range", fmt.Sprintf("number %s is out of range", n))
			return nil
		}
		v.SetFloat(f)
	case reflect.Int:
		n, ok := tok.(json.Number)
		if !ok {
			return w.mismatch(tok, ptr, "an integer")
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange) || (err == nil && v.OverflowInt(i)):
			w.fail(ptr, "range", fmt.Sprintf("integer %s is out of range", n))
		case err != nil:
			w.fail(ptr, "type", fmt.Sprintf("must be an integer, got %s", n))
		default:
			v.SetInt(i)
		}
	default:
		// Only reachable if model.go gains a field kind this walker does
		// not know; fail loudly rather than silently drop the value.
		return fmt.Errorf("declaration: decoding %s: unsupported field kind %s", ptr, v.Kind())
	}
	return nil
}

func (w *walker) object(v reflect.Value, ptr string) error {
	fields := jsonFields(v.Type())
	seen := make(map[string]bool, len(fields))
	for w.dec.More() {
		start := w.dec.InputOffset()
		tok, err := w.token()
		if err != nil {
			return err
		}
		key, _ := tok.(string) // the decoder guarantees a string in key position
		child := ptr + "/" + escapePointer(key)
		idx, known := fields[key]
		switch {
		case !utf8.Valid(w.body[start:w.dec.InputOffset()]):
			w.fail(child, "invalid_characters", "field name must be valid UTF-8")
		case !known:
			w.fail(child, "unknown_field", fmt.Sprintf("unknown field %q", key))
		case seen[key]:
			w.fail(child, "duplicate", fmt.Sprintf("field %q appears more than once", key))
		default:
			seen[key] = true
			if err := w.value(v.FieldByIndex(idx), child); err != nil {
				return err
			}
			continue
		}
		if err := w.skipValue(); err != nil {
			return err
		}
	}
	_, err := w.token() // '}'
	return err
}

func (w *walker) array(v reflect.Value, ptr string) error {
	s := reflect.MakeSlice(v.Type(), 0, 0)
	for i := 0; w.dec.More(); i++ {
		elem := reflect.New(v.Type().Elem()).Elem()
		if err := w.value(elem, ptr+"/"+strconv.Itoa(i)); err != nil {
			return err
		}
		s = reflect.Append(s, elem)
	}
	v.Set(s)
	_, err := w.token() // ']'
	return err
}

// mismatch records a type error and consumes the rest of the offending
// value; fields inside a value of the wrong type are not examined.
func (w *walker) mismatch(tok json.Token, ptr, want string) error {
	w.fail(ptr, "type", fmt.Sprintf("must be %s, got %s", want, jsonKind(tok)))
	return w.skipRest(tok)
}

func (w *walker) skipValue() error {
	tok, err := w.token()
	if err != nil {
		return err
	}
	return w.skipRest(tok)
}

// skipRest consumes the remainder of a value whose first token was tok.
// It counts depth instead of recursing so deep nesting cannot exhaust the
// stack (encoding/json itself caps nesting).
func (w *walker) skipRest(tok json.Token) error {
	depth := 0
	for {
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
		var err error
		if tok, err = w.token(); err != nil {
			return err
		}
	}
}

func jsonKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

var fieldCache sync.Map // reflect.Type → map[string][]int

// jsonFields maps the exact JSON names of t's fields to field index paths,
// with the fields of an embedded struct promoted as encoding/json does.
func jsonFields(t reflect.Type) map[string][]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string][]int)
	}
	m := make(map[string][]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("json") == "" {
			for name, sub := range jsonFields(f.Type) {
				if _, shadowed := m[name]; !shadowed {
					m[name] = append([]int{i}, sub...)
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = []int{i}
	}
	fieldCache.Store(t, m)
	return m
}

// escapePointer escapes one reference token per RFC 6901.
func escapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return pointerEscaper.Replace(s)
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")
