package sign

// For the external tests (package sign_test), which may import packages
// that import sign, such as internal/replay.
var (
	LegacySerialise      = legacySerialise
	LegacySignSerialised = legacySignSerialised
)
