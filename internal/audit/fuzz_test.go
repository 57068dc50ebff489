package audit

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// fuzzLimits keeps each fuzz input cheap: a gzip bomb stops at 1 MiB.
var fuzzLimits = readLimits{total: 1 << 20, manifest: 64 << 10, checkpoints: 256 << 10, cert: 16 << 10, members: 64, line: 256 << 10}

// FuzzReadArchive feeds arbitrary bytes to the reader and, when they
// decode, to the verifier: neither may panic, whatever the archive claims.
func FuzzReadArchive(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.archive)
	f.Add(fx.archive[:len(fx.archive)/2])
	f.Add([]byte{})
	ms := membersOf(f, fx.archive)
	f.Add(tarGz(f, ms[:3]...)) // no certificates: checkpoints cannot be checked
	f.Add(tarGz(f, member{name: manifestName, data: `{"format":"gatehub-audit-archive","version":1,"entry_encoding":"gatehub-audit-entry/v1","checkpoint_encoding":"gatehub-audit-checkpoint/v1","from_seq":9223372036854775807,"to_seq":-1}`},
		member{name: entriesName, data: `{"seq":-5,"hash":"00"}` + "\n"},
		member{name: checkpointsName, data: `[{"seq":-5},{"seq":9223372036854775807}]`}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		// The streaming reader and verifier must not panic either.
		if ar, err := openArchive(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, fuzzLimits); err == nil {
			_, _ = ar.Verify(context.Background(), VerifyOptions{XML: signerXML, Workers: 2})
			ar.Close()
		}
		a, err := readArchive(bytes.NewReader(data), fuzzLimits)
		if err != nil {
			return
		}
		a.Verify(signerXML)
		a.Verify(nil)
		_ = VerifyContinuity(a.Manifest, a.Manifest)
	})
}
