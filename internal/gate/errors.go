package gate

import "github.com/gatehub/gatehub/internal/yamlfile"

// Issue is one problem found in a gate configuration, at file:line:col
// (zero for gates built in Go rather than parsed from YAML, in which case
// Path alone locates the problem).
type Issue = yamlfile.Issue

// ConfigError carries every issue found, not just the first, so a province
// fixing a gate file sees the whole list in one validation run.
type ConfigError = yamlfile.ConfigError

// issues collects problems while decoding and validating.
type issues = yamlfile.Issues
