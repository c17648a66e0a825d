// Package rendezvous is the relay's in-memory proximity matcher. It is
// publish-only: a session announces tokens for an epoch, each with the
// sealed record of the friend it is meant for, and when a token equals a
// token another session announced in the same epoch the engine reports a
// match to both sides, each with the other's record. There is no lookup,
// so nobody can test a token without announcing it (and being seen).
//
// Matching: an entry is (epoch length, epoch, 8-byte token, here|near).
// here=here and here=near match; near=near does not (two devices both in
// neighbouring cells are not necessarily near each other). A session's own
// entries never match each other, and re-announcing a token it holds is a
// no-op, so clients can repeat an Announce safely.
//
// Time: an epoch e of length L is accepted from Skew before e·L to Skew
// after (e+1)·L (default skew ±60 s), on the engine's injected clock.
// Entries die at the end of that window, so none lives longer than one
// epoch plus twice the skew (≤ two epochs). Announce sweeps dead epochs as
// it goes; Sweep does it for an idle engine. Nothing is ever written to
// disk.
//
// Limits: MaxEntries and MaxRecordBytes bound memory (Announce fails with
// ErrFull, and the relay answers UNAVAILABLE); TokenBudget bounds the
// distinct tokens one session, or one Group of sessions (the relay makes
// one per connection), may hold per epoch (ErrBudget → RATE_LIMITED),
// which is what limits a malicious friend scanning cells. A session made
// with NewAccountedSession reserves its entries (EntryBytes each) and
// records (their bytes + RecordOverhead) with an Account before they are
// added (ErrMemory → UNAVAILABLE) and releases them when they die; the
// relay passes its memory budget, so these caps become a ceiling under it.
// Every refusal is all or nothing.
//
// Concurrency: one mutex guards the whole engine; Announce returns the
// deliveries owed to other sessions instead of calling back, so callers
// push them outside the lock. Sessions carry an opaque owner the caller
// uses to route deliveries (nil for sessions learnt by gossip, whose own
// relay notifies them).
//
// Tests: TestMatchKinds, TestOwnTokensDoNotMatch,
// TestEpochWindowAndRetention (injected clock), TestBudgetAndCapAreAllOrNothing,
// TestGroupBudget,
// TestWithdrawAndClose, TestAccountedSession. Benchmarks on one core (-cpu 1): BenchmarkAnnounce
// (announcements/s, 5 tokens each) and BenchmarkMatch (matches/s).
package rendezvous
