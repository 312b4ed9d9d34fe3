// Package ledgertest holds a randomized, seeded, model-based test of the
// receiver's ledger (docs/receiver.md, "The ledger"): for every state
// change of every alert and every channel its route reaches, the delivery
// history holds exactly one entry, and nothing reaches a channel that was
// not owed to it.
//
// The test runs the real gatewarden binary (built with -race) against a
// recording webhook sink, drives it with histories generated from a seed
// (alerts firing, resolving, re-firing, changing level, budget periods
// rolling over, silences, inhibition, a failing channel, reloads, graceful
// restarts, kill -9, two daemons sharing one PostgreSQL store), waits until
// everything owed has an outcome, and compares the history and the sink's
// receipts with a reference model written from the documentation, not from
// gatewarden's code.
//
//	go test ./receiver/ledgertest -run Ledger               # about a minute
//	GATEWARDEN_LEDGER_SEED=123 go test ./receiver/ledgertest -run TestLedgerModel -v
//	GATEWARDEN_LEDGER_DURATION=30m go test ./receiver/ledgertest -run TestLedgerModel -timeout 40m -v
//
// GATEWARDEN_LEDGER_BINARY names a prebuilt gatewarden to test instead of
// building ./cmd/gatewarden; GATEWARDEN_LEDGER_EXAMPLES sets how many
// violations of each kind a report lists (8). The package has no non-test
// code: this file exists so the directory is a package.
package ledgertest
