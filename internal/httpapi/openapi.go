package httpapi

import _ "embed"

// openAPIDocument describes every route of Routes; a test keeps the two in
// step.
//
//go:embed openapi.yaml
var openAPIDocument []byte
