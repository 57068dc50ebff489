package agencies

import "github.com/gatehub/gatehub/internal/yamlfile"

// Issue is one problem found in an agency file, at file:line:col.
type Issue = yamlfile.Issue

// ConfigError carries every issue found in a set of agency files, so one
// validation run lists them all.
type ConfigError = yamlfile.ConfigError

// Pos is a 1-based position in an agency file.
type Pos = yamlfile.Pos
