package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/message"
	"github.com/gatehub/gatehub/internal/pki"
)

// checkMappings refuses an agency set the loaded mappings do not serve:
// every kind an agency receives, and its ACK, need a mapping whose schema
// lies in the agency's schema directory; a mapping directory without an
// agency file is a typo or a forgotten file.
func checkMappings(set *agencies.Set, maps *mapping.Registry) error {
	var errs []string
	for _, a := range set.All() {
		if a.Mappings != string(a.Code) {
			errs = append(errs, fmt.Sprintf("%s: mappings: %q: the mapping directory of an agency is named after its code", a.Source, a.Mappings))
			continue
		}
		for _, kind := range append(slices.Clone(a.Receives), string(message.Ack)) {
			info, ok := maps.Info(string(a.Code), message.Kind(kind))
			switch {
			case !ok:
				errs = append(errs, fmt.Sprintf("%s: agency %s receives %s but mappings/%s/%s.yaml is missing", a.Source, a.Code, kind, a.Mappings, kind))
			case !strings.HasPrefix(info.SchemaFile, a.Schemas+"/"):
				errs = append(errs, fmt.Sprintf("%s: the %s mapping of %s uses schema %s, outside its schemas directory %s/", a.Source, kind, a.Code, info.SchemaFile, a.Schemas))
			}
		}
	}
	for _, m := range maps.Agencies() {
		if _, ok := set.Lookup(m); !ok {
			errs = append(errs, fmt.Sprintf("mappings/%s: no agency file deploy/agencies/%s.yaml", m, m))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("agencies and mappings disagree:\n%s", strings.Join(errs, "\n"))
	}
	return nil
}

// trustAgencyFiles adds the certificates the agency files list to the
// trust store, each for its agency.
func trustAgencyFiles(set *agencies.Set, ts *pki.TrustStore) error {
	for _, a := range set.All() {
		for _, f := range a.Certificates {
			path := f
			if !filepath.IsAbs(path) {
				path = filepath.Join(filepath.Dir(a.Source), f)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("%s: certificates: %w", a.Source, err)
			}
			cert, err := pki.ParseCertPEM(data)
			if err != nil {
				return fmt.Errorf("%s: certificates: %s: %w", a.Source, f, err)
			}
			ts.Add(string(a.Code), cert, time.Time{}, time.Time{})
		}
	}
	return nil
}

// ErrAgencySetChanged refuses a reload that adds or removes an agency: a
// new agency brings mappings, schemas and a delivery lane that are loaded
// at start.
var ErrAgencySetChanged = errors.New("a reload may change agencies, not add or remove one: restart the hub for that")

// ReloadAgencies reads the agency files again, checks them all (each file,
// the set, the mappings, every gate in force against the new set) and
// swaps the whole set at once; on any error the set in force stays and the
// error lists every problem. It returns the set now in force.
func (a *App) ReloadAgencies(ctx context.Context) (*agencies.Set, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	next, err := agencies.LoadDir(a.Config.AgenciesDir)
	if err != nil {
		return nil, err
	}
	cur := a.Agencies.Current()
	if !slices.Equal(next.Strings(), cur.Strings()) {
		return nil, fmt.Errorf("%w (in force: %s; in %s: %s)", ErrAgencySetChanged,
			strings.Join(cur.Strings(), ", "), a.Config.AgenciesDir, strings.Join(next.Strings(), ", "))
	}
	if err := checkMappings(next, a.mappings); err != nil {
		return nil, err
	}
	for _, code := range a.GateConfig.Gates.Current().Codes() {
		g, _ := a.GateConfig.Gates.Current().Gate(code)
		for _, ag := range g.Agencies().Strings() {
			if _, ok := next.Lookup(ag); !ok {
				return nil, fmt.Errorf("gate %s names agency %s, which the new set lacks", code, ag)
			}
		}
	}
	if err := trustAgencyFiles(next, a.Trust); err != nil {
		return nil, err
	}
	a.Agencies.Swap(next)
	a.Log.InfoContext(ctx, "agency configuration reloaded", "agencies", strings.Join(next.Strings(), ","))
	return next, nil
}
