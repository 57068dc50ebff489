package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/sqlite"
	"github.com/gatehub/gatehub/internal/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.OpenSQLite(t) })
}

// Reopening must find the schema already migrated and keep the data.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	for i := range 3 {
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("open #%d: %v", i, err)
		}
		err = s.WithTx(ctx, func(tx store.Tx) error {
			return tx.InsertDeclaration(ctx, &store.Declaration{ID: "D", Version: i + 1})
		})
		if err != nil {
			t.Fatalf("insert after open #%d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("close #%d: %v", i, err)
		}
	}
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.WithTx(ctx, func(tx store.Tx) error {
		d, err := tx.LatestDeclaration(ctx, "D")
		if err != nil {
			return err
		}
		if d.Version != 3 {
			t.Errorf("latest version = %d, want 3", d.Version)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkDeclarationTx(b *testing.B) {
	storetest.BenchDeclarationTx(b, storetest.OpenSQLite(b))
}
