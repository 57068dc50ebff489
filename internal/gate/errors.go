package gate

import (
	"fmt"
	"sort"
	"strings"
)

// Issue is one problem found in a gate configuration. Line and Col are
// 1-based positions in File; they are zero for gates built in Go rather
// than parsed from YAML, in which case Path alone locates the problem.
type Issue struct {
	File string
	Line int
	Col  int
	Path string // e.g. lanes[1].devices[0].tokenSHA256
	Msg  string
}

func (i Issue) String() string {
	where := i.File
	if where == "" {
		where = "<gate>"
	}
	if i.Line > 0 {
		where = fmt.Sprintf("%s:%d:%d", where, i.Line, i.Col)
	}
	if i.Path != "" {
		return fmt.Sprintf("%s: %s: %s", where, i.Path, i.Msg)
	}
	return fmt.Sprintf("%s: %s", where, i.Msg)
}

// ConfigError carries every issue found, not just the first, so a province
// fixing a gate file sees the whole list in one validation run.
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

// issues collects problems while decoding and validating.
type issues struct {
	file string
	list []Issue
}

func (is *issues) add(p Pos, path, format string, args ...any) {
	is.list = append(is.list, Issue{File: is.file, Line: p.Line, Col: p.Col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// err returns nil when nothing was found, otherwise a *ConfigError with
// issues in file order so the output reads top to bottom.
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
