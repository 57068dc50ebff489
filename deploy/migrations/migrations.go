// Package migrations embeds the numbered, up-only Postgres migrations so
// the hub binary carries its own schema.
package migrations

import "embed"

// FS holds NNNN_name.sql files, applied in numeric order.
//
//go:embed *.sql
var FS embed.FS
