package conformance

import "encoding/json"

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func jsonRaw(b []byte) json.RawMessage { return json.RawMessage(b) }
