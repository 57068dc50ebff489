package codelist

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// An XSD region generated from a list is delimited by two comments; the
// begin comment names the list and the simple type to generate:
//
//	<!-- BEGIN codes country CountryCodeType -->
//	...generated, do not edit...
//	<!-- END codes country -->
//
// GenerateXSD rewrites every such region from the set, so an enumeration
// in a schema can only say what the list says. What a region allows is
// List.Codes: the codes of an enumeration, the agency codes of a
// translation.
var regionRE = regexp.MustCompile(`(?m)^([ \t]*)<!-- BEGIN codes ([a-z0-9-]+) ([A-Za-z][A-Za-z0-9]*) -->\n(?s:(.*?))^[ \t]*<!-- END codes ([a-z0-9-]+) -->\n`)

// Region is one generated region of a schema.
type Region struct {
	List, Type string
}

// GenerateXSD returns src with every generated region rewritten from s, and
// the regions it found. An unknown list or an unmatched END is an error.
func GenerateXSD(src []byte, s *Set) ([]byte, []Region, error) {
	var regions []Region
	var firstErr error
	out := regionRE.ReplaceAllFunc(src, func(m []byte) []byte {
		g := regionRE.FindSubmatch(m)
		indent, name, typ, end := string(g[1]), string(g[2]), string(g[3]), string(g[5])
		if name != end {
			if firstErr == nil {
				firstErr = fmt.Errorf("region BEGIN codes %s ends with END codes %s", name, end)
			}
			return m
		}
		l, ok := s.Lookup(name)
		if !ok {
			if firstErr == nil {
				firstErr = fmt.Errorf("region %s: unknown code list %q", typ, name)
			}
			return m
		}
		regions = append(regions, Region{List: name, Type: typ})
		return []byte(enumeration(indent, l, typ))
	})
	if firstErr != nil {
		return nil, nil, firstErr
	}
	if n := bytes.Count(src, []byte("<!-- BEGIN codes ")); n != len(regions) {
		return nil, nil, fmt.Errorf("%d BEGIN codes comments but %d well-formed regions", n, len(regions))
	}
	return out, regions, nil
}

func enumeration(indent string, l *List, typ string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s<!-- BEGIN codes %s %s -->\n", indent, l.Name, typ)
	fmt.Fprintf(&b, "%s<!-- Generated from mappings/codes/%s.yaml by `go generate ./mappings`: edit the list, not this.\n", indent, l.Name)
	fmt.Fprintf(&b, "%s     Source: %s\n", indent, xmlComment(l.Source))
	fmt.Fprintf(&b, "%s     Version: %s -->\n", indent, xmlComment(l.Version))
	fmt.Fprintf(&b, "%s<xs:simpleType name=\"%s\">\n", indent, typ)
	fmt.Fprintf(&b, "%s  <xs:restriction base=\"xs:token\">\n", indent)
	for _, c := range l.Codes() {
		fmt.Fprintf(&b, "%s    <xs:enumeration value=\"%s\"/>\n", indent, xmlAttr(c))
	}
	fmt.Fprintf(&b, "%s  </xs:restriction>\n", indent)
	fmt.Fprintf(&b, "%s</xs:simpleType>\n", indent)
	fmt.Fprintf(&b, "%s<!-- END codes %s -->\n", indent, l.Name)
	return b.String()
}

// xmlComment keeps text legal inside a comment ("--" is not) and on one line.
func xmlComment(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "--", "- -")
}

func xmlAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", "\"", "&quot;").Replace(s)
}
