package storetest

import (
	"bytes"
	"context"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// agencies are the four message targets of one declaration.
var agencies = []string{"customs", "borderguard", "vehicleregistry", "guangxi"}

// BenchDeclarationTx measures the hub's hot write path: one transaction
// storing a declaration, its four agency messages and four audit entries
// that refer to the messages' bytes, as the hub's do.
// Bodies are sized like real ones (a few KiB of JSON and signed XML).
func BenchDeclarationTx(b *testing.B, s store.Store) {
	ctx := context.Background()
	declBody := bytes.Repeat([]byte(`{"consignment":"x"},`), 100)    // ~2 KiB
	msgBody := bytes.Repeat([]byte("<Signed>payload</Signed>"), 170) // ~4 KiB
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("BENCH-%09d", i)
		now := time.Now()
		err := s.WithTx(ctx, func(tx store.Tx) error {
			d := &store.Declaration{ID: id, Version: 1, TraderTaxCode: "0101234567", Gate: "HUUNGHI", Lane: "L1",
				PlateVN: fmt.Sprintf("29C%05d", i%100000), PlateCN: "桂A12345", Status: "active", Body: declBody, CreatedAt: now}
			if err := tx.InsertDeclaration(ctx, d); err != nil {
				return err
			}
			for _, ag := range agencies {
				m := &store.Message{ID: id + "-" + ag, DeclarationID: id, Version: 1, Agency: ag, Kind: "submit",
					Body: msgBody, State: message.Pending, NextAttemptAt: now, CreatedAt: now}
				if err := tx.InsertMessage(ctx, m); err != nil {
					return err
				}
			}
			for _, ag := range agencies {
				if _, err := appendNext(ctx, tx, store.AuditEntry{Time: now, Kind: "message.created",
					DeclarationID: id, MessageID: id + "-" + ag, Agency: ag, Plate: d.PlateVN, Payload: msgBody, PayloadOf: store.PayloadMessage}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("iteration %d: %v", i, err)
		}
	}
}
