package mapping

import (
	"github.com/gatehub/gatehub/internal/message"
	"strings"
)

// Field describes one rule of a mapping for documentation: where the value
// goes, where it comes from and which code list translates it.
type Field struct {
	Path   string // XML path from the root, "A/B/@c"
	Source string // source path(s), "a|b"; empty for a constant or a group
	// Declared is Source in terms of the declaration JSON, lists marked
	// [] ("consignments[].goodsItems[].hsCodeVN"), alternatives joined by
	// " else "; sources that are not the declaration stay as written.
	Declared  string
	Const     string
	Transform string   // transforms as written, "upper|code:country-cn"
	Lists     []string // code lists of its code:<list> transforms
	Optional  bool
	Repeats   string // for a repeating group: what it repeats over
	File      string
	Line      int
}

// Fields lists agency's kind mapping as written, depth first, every rule
// with its absolute path.
func (r *Registry) Fields(agency string, kind message.Kind) ([]Field, error) {
	m, err := r.mapping(agency, kind)
	if err != nil {
		return nil, err
	}
	var out []Field
	var walk func(prefix, item string, rules []*rule)
	walk = func(prefix, item string, rules []*rule) {
		for _, ru := range rules {
			elems := strings.TrimPrefix(strings.Join(append([]string{prefix}, ru.elems...), "/"), "/")
			p := elems
			if ru.attr != "" {
				p = strings.TrimPrefix(p+"/@"+ru.attr, "/")
			}
			f := Field{Path: strings.TrimSuffix(m.root+"/"+p, "/"), Source: ru.source, Optional: ru.optional, Repeats: ru.each, File: ru.file, Line: ru.line}
			f.Declared = declared(ru.source, item)
			if ru.constant != nil {
				f.Const = *ru.constant
			}
			var names []string
			for _, t := range ru.transforms {
				names = append(names, t.name)
				if t.list != "" {
					f.Lists = append(f.Lists, t.list)
				}
			}
			f.Transform = strings.Join(names, "|")
			childItem := item
			if ru.each != "" {
				f.Declared = declared(ru.each, item)
				childItem = declared(strings.Split(ru.each, "|")[0], item) + "[]"
			}
			out = append(out, f)
			// Children sit under the element just made (attributes of a
			// value element, members of a group).
			walk(elems, childItem, ru.children)
		}
	}
	walk("", "", m.rules)
	return out, nil
}

// declared rewrites source alternatives into declaration field paths;
// item is the declaration path of the current each item.
func declared(src, item string) string {
	if src == "" {
		return ""
	}
	var alts []string
	for _, a := range strings.Split(src, "|") {
		switch {
		case strings.HasPrefix(a, "declaration."):
			a = strings.TrimPrefix(a, "declaration.")
		case a == "item" && item != "":
			a = strings.TrimSuffix(item, "[]") + " (itself)"
			if strings.HasSuffix(item, "[]") {
				a = item
			}
		case strings.HasPrefix(a, "item.") && item != "":
			a = item + "." + strings.TrimPrefix(a, "item.")
		}
		alts = append(alts, a)
	}
	return strings.Join(alts, " else ")
}
