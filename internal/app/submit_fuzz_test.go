package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/app/apptest"
)

// leafPaths lists every leaf of a JSON document as a path of keys and
// indexes, in a stable order.
func leafPaths(v any, prefix []string, out *[][]string) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			*out = append(*out, append(slices.Clone(prefix), k))
			leafPaths(x[k], append(slices.Clone(prefix), k), out)
		}
	case []any:
		for i, e := range x {
			*out = append(*out, append(slices.Clone(prefix), strconv.Itoa(i)))
			leafPaths(e, append(slices.Clone(prefix), strconv.Itoa(i)), out)
		}
	}
}

// edit sets (op 0: string, 1: number, 2: empty list, 3: null) or deletes
// (op 4) the value at path in doc.
func edit(doc any, path []string, op uint8, value string) {
	parent := doc
	for _, k := range path[:len(path)-1] {
		switch p := parent.(type) {
		case map[string]any:
			parent = p[k]
		case []any:
			i, _ := strconv.Atoi(k)
			if i >= len(p) {
				return
			}
			parent = p[i]
		}
	}
	var v any
	switch op % 5 {
	case 0:
		v = value
	case 1:
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			f = float64(len(value))
		}
		v = f
	case 2:
		v = []any{}
	case 3:
		v = nil
	}
	last := path[len(path)-1]
	switch p := parent.(type) {
	case map[string]any:
		if op%5 == 4 {
			delete(p, last)
		} else {
			p[last] = v
		}
	case []any:
		i, _ := strconv.Atoi(last)
		if i < len(p) {
			if op%5 == 4 {
				p[i] = nil
			} else {
				p[i] = v
			}
		}
	}
}

// FuzzSubmitNever500 submits declarations edited field by field (and raw
// bytes) to the whole hub — decoding, validation, every agency's mapping,
// XSD validation, signing, storing — and asserts the trader never gets a
// 5xx: whatever is wrong with a declaration is a 4xx naming the field.
func FuzzSubmitNever500(f *testing.F) {
	cfg := apptest.Config(f, repoRoot)
	cfg.Simulators = true
	a, err := app.New(context.Background(), cfg, app.Options{Log: testLog(), Now: func() time.Time {
		return time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(a.Close)
	handler := a.Server.Handler()
	var seeds [][]byte
	for _, name := range []string{"huu-nghi-export.json", "tan-thanh-import.json"} {
		raw, err := os.ReadFile(filepath.Join(repoRoot, "conformance-tests/declarations", name))
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, raw)
	}
	f.Add(uint8(0), uint16(0), uint8(4), "", []byte(nil))
	f.Add(uint8(0), uint16(3), uint8(2), "", []byte(nil))
	f.Add(uint8(1), uint16(40), uint8(0), "XX", []byte(nil))
	f.Add(uint8(0), uint16(7), uint8(1), "1e400", []byte(nil))
	f.Add(uint8(0), uint16(0), uint8(0), "", []byte(`{"gate":"HUUNGHI"}`))
	f.Fuzz(func(t *testing.T, seed uint8, field uint16, op uint8, value string, raw []byte) {
		body := raw
		if len(raw) == 0 {
			var doc any
			if err := json.Unmarshal(seeds[int(seed)%len(seeds)], &doc); err != nil {
				t.Fatal(err)
			}
			var paths [][]string
			leafPaths(doc, nil, &paths)
			edit(doc, paths[int(field)%len(paths)], op, value)
			body, _ = json.Marshal(doc)
		}
		req := httptest.NewRequest("POST", "/v1/declarations", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+traderToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("HTTP %d for %s\n%s", rec.Code, body, rec.Body.String())
		}
		if rec.Code == http.StatusUnprocessableEntity || rec.Code == http.StatusBadRequest {
			var p struct {
				Errors []struct{ Pointer, Detail string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatalf("HTTP %d without a problem document: %s", rec.Code, rec.Body.String())
			}
		}
	})
}
