package store

import "errors"

// Sentinel errors. Callers branch on these with errors.Is; every other error
// from the store is an I/O or corruption problem and is wrapped with context.
var (
	// ErrTooLarge: a Put's data exceeds Config.MaxBlobSize. Nothing stored.
	ErrTooLarge = errors.New("store: blob too large")
	// ErrEmpty: a Put with no data. Nothing stored.
	ErrEmpty = errors.New("store: empty blob")
	// ErrMailboxQuota: storing the blob would take its mailbox over
	// Config.MailboxQuota. Nothing stored.
	ErrMailboxQuota = errors.New("store: mailbox quota exceeded")
	// ErrGlobalQuota: storing the blob would take the relay over
	// Config.GlobalQuota. Nothing stored.
	ErrGlobalQuota = errors.New("store: relay storage full")
	// ErrClosed: the store was closed (or is closing) before the request
	// was queued. Nothing stored.
	ErrClosed = errors.New("store: closed")
	// ErrRetention: Config.Retention exceeds MaxRetention (30 days). The
	// operator may lower retention, never raise it.
	ErrRetention = errors.New("store: retention exceeds 30 days")
	// ErrKeysMissing: Open found unexpired blobs whose at-rest day key is
	// not in Config.KeyDir (a wrong or lost key directory). Nothing is
	// changed; open with the right KeyDir.
	ErrKeysMissing = errors.New("store: at-rest keys missing")
)
