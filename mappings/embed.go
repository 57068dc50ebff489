// Package mappings embeds the shipped code lists, so that tools and tests
// that are not pointed at a mappings directory validate against the same
// data the hub ships with. The agency mapping files are read from disk by
// internal/mapping (the directory is configuration).
package mappings

import "embed"

// Codes holds codes/*.yaml.
//
//go:embed codes/*.yaml
var Codes embed.FS

//go:generate go run ../internal/formatdoc/cmd/genformats -root ..
