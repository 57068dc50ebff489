package metrics

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
)

// fingerprint is the first 16 hex digits of the SHA-256 of the DER: the
// prefix of the key id the hub logs (pki.Fingerprint), long enough to tell
// an agency's old and new certificate apart on a dashboard.
func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:8])
}
