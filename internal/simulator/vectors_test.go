package simulator

import (
	"github.com/gatehub/gatehub/internal/outbox"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/adapters/agency"
)

const vectorsDir = "../../conformance-tests/vectors"

// TestConformanceVectors sends the shared conformance vectors, signed by
// the hub, to each simulator: valid submit/amend/cancel vectors must get an
// answer (ACK or NACK), every invalid inbound vector a permanent refusal.
// This keeps the simulator's notion of "valid" equal to the schema team's.
func TestConformanceVectors(t *testing.T) {
	for _, d := range testDefinitions(t) {
		name := d.Spec.Name
		t.Run(name, func(t *testing.T) {
			for _, class := range []string{"valid", "invalid"} {
				files, _ := filepath.Glob(filepath.Join(vectorsDir, name, class, "*.xml"))
				if len(files) == 0 {
					t.Skipf("no %s vectors for %s", class, name)
				}
				for _, f := range files {
					base := filepath.Base(f)
					// Responses are not inbound, and already-signed vectors
					// cannot be re-signed by the hub.
					if strings.HasPrefix(base, "ack") || strings.HasPrefix(base, "nack") || strings.HasPrefix(base, "receipt") ||
						strings.Contains(base, "signed") || strings.Contains(base, "signature") {
						continue
					}
					t.Run(class+"/"+base, func(t *testing.T) {
						// A rig per vector: the vectors share message ids.
						r := newRig(t, name, nil)
						raw, err := os.ReadFile(f)
						if err != nil {
							t.Fatal(err)
						}
						body, msgID := r.signVector(t, d.Envelope, raw)
						resp := r.post(msgID, body)
						if class == "valid" {
							if resp.Status != http.StatusOK {
								t.Fatalf("status %d: %s", resp.Status, resp.Body)
							}
							r.readAck(resp.Body)
							return
						}
						if agency.Classify(resp, nil) != outbox.Permanent {
							t.Fatalf("invalid vector answered %d: %s", resp.Status, resp.Body)
						}
						t.Logf("%d %s", resp.Status, problemCode(t, resp))
					})
				}
			}
		})
	}
}

// signVector signs a vector as the hub and picks a message id for the
// request headers: the envelope's own when readable, else a placeholder
// (an unreadable envelope must be refused anyway).
func (r *rig) signVector(t *testing.T, read agency.EnvelopeReader, raw []byte) ([]byte, string) {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil || doc.Root() == nil {
		return raw, "M-MALFORMED" // sent unsigned: it cannot be parsed to sign
	}
	msgID := "M-UNREADABLE"
	if env, err := read(doc.Root()); err == nil {
		msgID = env.MessageID
	}
	signed, err := r.hubSigner.Sign(doc)
	if err != nil {
		t.Fatalf("sign vector: %v", err)
	}
	return signed, msgID
}
