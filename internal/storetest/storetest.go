// Package storetest opens real stores for other packages' tests: SQLite in
// the test's temp dir, or any Options (a PostgreSQL database from
// internal/pgtest), closed when the test ends.
package storetest

import (
	"context"
	"testing"

	"github.com/gatewarden/gatewarden/store"
)

// Open opens o and closes the store when the test ends.
func Open(t testing.TB, o store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// SQLite is a fresh SQLite store in the test's temp dir.
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	return Open(t, store.Options{Path: t.TempDir()})
}
