package mapping

import (
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/codelist"
	"github.com/gatehub/gatehub/internal/declaration"
)

// chinaStandardTime is fixed at UTC+8 (no daylight saving since 1991), so no
// tz database is needed on the host.
var chinaStandardTime = time.FixedZone("CST", 8*60*60)

// compactCN is the China e-port timestamp layout, read in China Standard Time.
const compactCN = "20060102150405"

// transform is one named value conversion. reverse is nil when the
// conversion loses information; such transforms cannot appear on the ack
// fields that ParseAck reads back.
type transform struct {
	name    string
	list    string // the code list of code:<list>, named in errors
	forward func(string) (string, error)
	reverse func(string) (string, error)
}

// transformNames lists the names accepted in mapping files, for error messages.
const transformNames = "upper, lower, trim, date[:layout], datetime, datetime_cn, kg_to_tonnes, decimal2, decimal3, int, plate_country, uscc_only, code:<list>"

func identity(s string) (string, error) { return s, nil }

// parseTransform resolves one "name[:arg]" against the loaded code lists.
func parseTransform(spec string, codes *codelist.Set) (transform, error) {
	name, arg, hasArg := strings.Cut(spec, ":")
	noArg := func(t transform) (transform, error) {
		if hasArg {
			return transform{}, fmt.Errorf("transform %q takes no argument", name)
		}
		return t, nil
	}
	switch name {
	case "upper":
		return noArg(transform{name: spec, forward: func(s string) (string, error) { return strings.ToUpper(s), nil }, reverse: identity})
	case "lower":
		return noArg(transform{name: spec, forward: func(s string) (string, error) { return strings.ToLower(s), nil }, reverse: identity})
	case "trim":
		return noArg(transform{name: spec, forward: func(s string) (string, error) { return strings.TrimSpace(s), nil }, reverse: identity})
	case "date":
		layout := "2006-01-02"
		if hasArg {
			if arg == "" {
				return transform{}, fmt.Errorf("transform date: empty layout")
			}
			layout = arg
		}
		return transform{name: spec, forward: func(s string) (string, error) { return formatDate(s, layout) }}, nil
	case "datetime":
		return noArg(transform{name: spec,
			forward: func(s string) (string, error) { return formatDateTime(s, time.UTC, time.RFC3339) },
			reverse: func(s string) (string, error) { return parseDateTime(s, time.RFC3339, nil) },
		})
	case "datetime_cn":
		return noArg(transform{name: spec,
			forward: func(s string) (string, error) { return formatDateTime(s, chinaStandardTime, compactCN) },
			reverse: func(s string) (string, error) { return parseDateTime(s, compactCN, chinaStandardTime) },
		})
	case "kg_to_tonnes":
		return noArg(transform{name: spec, forward: func(s string) (string, error) { return scaleDecimal(s, 1000, 3) }})
	case "decimal2":
		return noArg(transform{name: spec, forward: func(s string) (string, error) { return scaleDecimal(s, 1, 2) }})
	case "decimal3":
		return noArg(transform{name: spec, forward: func(s string) (string, error) { return scaleDecimal(s, 1, 3) }})
	case "int":
		return noArg(transform{name: spec, forward: toInt, reverse: identity})
	case "plate_country":
		return noArg(transform{name: spec, forward: func(s string) (string, error) {
			if c := declaration.PlateCountry(s); c != "" {
				return c, nil
			}
			return "", fmt.Errorf("%q is neither a Vietnamese nor a Chinese plate", s)
		}})
	case "uscc_only":
		// A party's taxCode is a Vietnamese tax code or a Chinese unified
		// social credit code; Chinese formats have a field for the latter
		// only, and an empty result leaves an optional field out.
		return noArg(transform{name: spec, forward: func(s string) (string, error) {
			if declaration.IsUSCC(s) {
				return s, nil
			}
			return "", nil
		}})
	case "code":
		cl, ok := codes.Lookup(arg)
		if !ok {
			return transform{}, fmt.Errorf("transform %q: unknown code list %q", spec, arg)
		}
		t := transform{name: spec, list: cl.Name, forward: func(s string) (string, error) {
			v, ok := cl.Translate(s)
			if !ok {
				return "", fmt.Errorf("code list %s: no code for %q", cl.Name, s)
			}
			return v, nil
		}}
		if inv := cl.Inverse(); inv != nil {
			t.reverse = func(s string) (string, error) {
				v, ok := inv[s]
				if !ok {
					return "", fmt.Errorf("code list %s: unknown code %q", cl.Name, s)
				}
				return v, nil
			}
		}
		return t, nil
	default:
		return transform{}, fmt.Errorf("unknown transform %q (known: %s)", spec, transformNames)
	}
}

// formatDate accepts an ISO date or an RFC 3339 timestamp; a timestamp keeps
// its own offset, since a planned crossing is a local calendar day at the gate.
func formatDate(s, layout string) (string, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		t, err = time.Parse(time.RFC3339, s)
		if err != nil {
			return "", fmt.Errorf("date: %q is neither YYYY-MM-DD nor RFC 3339", s)
		}
	}
	return t.Format(layout), nil
}

// formatDateTime drops sub-second precision: agencies store seconds, and
// it keeps the output identical however the caller's clock rounds.
func formatDateTime(s string, loc *time.Location, layout string) (string, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", fmt.Errorf("datetime: %q is not RFC 3339", s)
	}
	return t.In(loc).Truncate(time.Second).Format(layout), nil
}

// parseDateTime reads a timestamp back into the RFC 3339 UTC form that the
// ack context uses.
func parseDateTime(s, layout string, loc *time.Location) (string, error) {
	var t time.Time
	var err error
	if loc != nil {
		t, err = time.ParseInLocation(layout, s, loc)
	} else {
		t, err = time.Parse(layout, s)
	}
	if err != nil {
		return "", fmt.Errorf("timestamp %q does not match %s", s, layout)
	}
	return t.UTC().Format(time.RFC3339Nano), nil
}

// scaleDecimal divides by div and rounds to places decimals, in exact
// rational arithmetic so 0.1+0.2-style float artefacts never reach the XML.
func scaleDecimal(s string, div int64, places int) (string, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return "", fmt.Errorf("%q is not a number", s)
	}
	if div != 1 {
		r.Quo(r, new(big.Rat).SetInt64(div))
	}
	return r.FloatString(places), nil
}

func toInt(s string) (string, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok || !r.IsInt() {
		return "", fmt.Errorf("%q is not an integer", s)
	}
	return r.Num().String(), nil
}
