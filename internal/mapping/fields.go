package mapping

import (
	"strings"
)

// Field describes one rule of a mapping for documentation: where the value
// goes, where it comes from and which code list translates it.
type Field struct {
	Path      string // XML path from the root, "A/B/@c"
	Source    string // source path(s), "a|b"; empty for a constant or a group
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
func (r *Registry) Fields(agency, kind string) ([]Field, error) {
	m, err := r.mapping(agency, kind)
	if err != nil {
		return nil, err
	}
	var out []Field
	var walk func(prefix string, rules []*rule)
	walk = func(prefix string, rules []*rule) {
		for _, ru := range rules {
			p := strings.Join(append([]string{prefix}, ru.elems...), "/")
			if ru.attr != "" {
				p += "/@" + ru.attr
			}
			p = strings.TrimPrefix(p, "/")
			f := Field{Path: m.root + "/" + p, Source: ru.source, Optional: ru.optional, Repeats: ru.each, File: ru.file, Line: ru.line}
			if p == "" {
				f.Path = m.root
			}
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
			out = append(out, f)
			// Children of a value element sit under it too (its attributes).
			walk(strings.TrimPrefix(strings.Join(append([]string{prefix}, ru.elems...), "/"), "/"), ru.children)
		}
	}
	walk("", m.rules)
	return out, nil
}
