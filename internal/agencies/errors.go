package agencies

import (
	"fmt"
	"sort"
	"strings"
)

// Issue is one problem found in an agency file, at a 1-based position.
type Issue struct {
	File      string
	Line, Col int
	Path      string // e.g. endpoint.timeout, forward.REVOKE[1]
	Msg       string
}

func (i Issue) String() string {
	where := i.File
	if i.Line > 0 {
		where = fmt.Sprintf("%s:%d:%d", where, i.Line, i.Col)
	}
	if i.Path != "" {
		return fmt.Sprintf("%s: %s: %s", where, i.Path, i.Msg)
	}
	return fmt.Sprintf("%s: %s", where, i.Msg)
}

// ConfigError carries every issue found in a set of agency files, so one
// validation run lists them all.
type ConfigError struct {
	Issues []Issue
}

func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		lines[i] = is.String()
	}
	return strings.Join(lines, "\n")
}

type issues struct {
	file string
	list []Issue
}

func (is *issues) add(p Pos, path, format string, args ...any) {
	is.list = append(is.list, Issue{File: is.file, Line: p.Line, Col: p.Col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// err is nil when nothing was found, else a *ConfigError in file order.
func (is *issues) err() error {
	if len(is.list) == 0 {
		return nil
	}
	out := append([]Issue(nil), is.list...)
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].File != out[b].File {
			return out[a].File < out[b].File
		}
		if out[a].Line != out[b].Line {
			return out[a].Line < out[b].Line
		}
		return out[a].Col < out[b].Col
	})
	return &ConfigError{Issues: out}
}
