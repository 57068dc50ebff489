// Package schema validates agency XML against the XSDs under schemas/ at
// runtime, through libxml2 (github.com/terminalstatic/go-xsd-validate, cgo;
// needs the libxml2 development package, e.g. apt-get install libxml2-dev).
//
// Concurrency and lifetime, from reading the library: Init/Cleanup act on
// process-wide libxml2 state (Init fails if called twice, Cleanup runs
// xmlCleanupParser, which libxml2 documents as safe only at process exit).
// So this package initialises libxml2 once per process and never cleans it
// up; Close frees only the compiled schemas it owns. A compiled schema is
// read-only once parsed and each validation gets its own libxml2 context,
// so concurrent Validate calls share the schemas under a read lock; Close
// takes the write lock, so no validation can run on a freed schema.
package schema

import (
	"errors"
	"fmt"
	"io/fs"

	"path/filepath"
	"sort"
	"strings"
	"sync"

	xsdvalidate "github.com/terminalstatic/go-xsd-validate"
)

// libxml2 process-wide initialisation (see the package comment): the only
// package-level state, because the library's own state is process-wide.
var (
	initOnce sync.Once
	initErr  error
)

func initLibxml2() error {
	initOnce.Do(func() {
		err := xsdvalidate.Init()
		var already xsdvalidate.Libxml2Error
		// Another package in the process may have initialised it first;
		// that leaves libxml2 ready all the same.
		if err != nil && !(errors.As(err, &already) && strings.Contains(err.Error(), "already initialized")) {
			initErr = fmt.Errorf("init libxml2: %w", err)
		}
	})
	return initErr
}

// sharedDirs hold schema pieces that are included or imported by message
// schemas and are not compiled on their own.
var sharedDirs = map[string]bool{"common": true, "xmldsig": true}

// Validator holds the compiled message schemas, keyed by their path
// relative to the schemas directory ("customs/road-manifest-1.0.xsd").
type Validator struct {
	mu      sync.RWMutex
	schemas map[string]*xsdvalidate.XsdHandler
	closed  bool
}

// Problem is one libxml2 message about the validated document.
type Problem struct {
	Line    int // 0 when libxml2 gave none
	Message string
}

// Error reports why a document is not valid against a schema.
type Error struct {
	Schema   string
	Problems []Problem
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		if p.Line > 0 {
			parts[i] = fmt.Sprintf("line %d: %s", p.Line, p.Message)
		} else {
			parts[i] = p.Message
		}
	}
	return fmt.Sprintf("invalid against %s: %s", e.Schema, strings.Join(parts, "; "))
}

// Load compiles every message schema: each .xsd in a sub-directory of
// schemasDir except the shared common/ and xmldsig/ pieces.
func Load(schemasDir string) (*Validator, error) {
	if err := initLibxml2(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(schemasDir)
	if err != nil {
		return nil, fmt.Errorf("schemas dir: %w", err)
	}
	var files []string
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(abs, p)
		if d.IsDir() {
			if sharedDirs[rel] {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".xsd") && strings.Contains(rel, string(filepath.Separator)) {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list schemas in %s: %w", schemasDir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no message schemas under %s", schemasDir)
	}
	sort.Strings(files)
	v := &Validator{schemas: make(map[string]*xsdvalidate.XsdHandler, len(files))}
	for _, rel := range files {
		// Compiled from the file path, not from memory, so libxml2 resolves
		// include/import schemaLocations relative to the file.
		h, err := xsdvalidate.NewXsdHandlerUrl(filepath.Join(abs, rel), xsdvalidate.ParsErrVerbose)
		if err != nil {
			v.Close()
			return nil, fmt.Errorf("compile %s: %w", rel, err)
		}
		v.schemas[filepath.ToSlash(rel)] = h
	}
	return v, nil
}

// Schemas returns the keys Validate accepts, sorted.
func (v *Validator) Schemas() []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]string, 0, len(v.schemas))
	for k := range v.schemas {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Validate checks xml against schemaFile (relative to the schemas
// directory, as in mapping.Info.SchemaFile). It returns *Error listing
// libxml2's messages with line numbers when the document is malformed or
// invalid. Safe for concurrent use.
func (v *Validator) Validate(schemaFile string, xml []byte) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.closed {
		return errors.New("schema validator is closed")
	}
	h, ok := v.schemas[schemaFile]
	if !ok {
		return fmt.Errorf("unknown schema %q", schemaFile)
	}
	err := h.ValidateMem(xml, xsdvalidate.ParsErrDefault)
	if err == nil {
		return nil
	}
	var ve xsdvalidate.ValidationError
	if errors.As(err, &ve) {
		out := &Error{Schema: schemaFile}
		for _, e := range ve.Errors {
			out.Problems = append(out.Problems, Problem{Line: e.Line, Message: strings.TrimSpace(e.Message)})
		}
		return out
	}
	var pe xsdvalidate.XmlParserError
	if errors.As(err, &pe) {
		// The fast path only says "malformed"; parse again verbosely to
		// tell the caller where.
		msg := pe.Error()
		if xh, verr := xsdvalidate.NewXmlHandlerMem(xml, xsdvalidate.ParsErrVerbose); verr != nil {
			msg = strings.TrimSpace(verr.Error())
		} else {
			xh.Free()
		}
		return &Error{Schema: schemaFile, Problems: []Problem{{Message: "not well-formed: " + msg}}}
	}
	return fmt.Errorf("validate against %s: %w", schemaFile, err)
}

// Close frees the compiled schemas. libxml2 itself stays initialised for
// the process (see the package comment). Validate after Close fails.
func (v *Validator) Close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	for _, h := range v.schemas {
		h.Free()
	}
	v.schemas = nil
	v.closed = true
}
