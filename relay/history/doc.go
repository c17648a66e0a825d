// Package history is the relay's memory of past rendezvous announcements,
// for late meetings (issue 10): a phone that had no relay during some
// epochs announces their tokens later (a late announcement), and the relay
// matches them against what it kept. It owns its own bbolt file
// (history.db in the relay's data dir), separate from the mailbox store, so
// its churn and its expiry never touch acknowledged mail.
//
// # What is stored
//
// Per announcement (one Announce, live or late, local or gossiped): the
// epoch and its length, the announcing session's random origin (so a
// session never matches itself), the optional forget tag and the shared
// record once; per friend (pb.Announcement) the sealed record (a 16-byte
// key share with Imigee nodes) and its tokens with their kind. Never a
// client identity, address or peer ID. Layout (layout.go): one top-level
// bucket per (epoch, epoch length), holding sub-buckets
//
//	x: token(8) ‖ aid(8) ‖ i(2)  → kind(1)            (the match index)
//	a: aid(8)                    → header             (origin, tag, shared record)
//	r: aid(8) ‖ i(2)             → record             (tokens, sealed record)
//	f: tag(32) ‖ aid(8)          → ""                 (forget index)
//
// and a "meta" bucket with each epoch bucket's byte and entry counts, so
// the totals survive a restart without a scan. Every stored value has a
// decoder that rejects what it did not write (the disk is input too;
// FuzzDecode*).
//
// # Matching
//
// Late only: a late announcement is matched against the stored entries of
// its epoch (here=here and here=near match, near=near does not, as live)
// and then stored, in one write transaction, so two late announcements of
// the same epoch see each other whichever comes first. Live announcements
// are matched live by relay/rendezvous and only stored here. A session
// re-announcing a token it already stored adds nothing (a near one
// announced again as here is upgraded), so retries are free.
//
// # Durability and cost
//
// Writes go through one committer goroutine (commit.go, the pattern of
// relay/store): it commits whatever is queued in one transaction and one
// fsync, so concurrent announces share a commit and a lone one waits for
// no timer (bbolt's Batch would add up to 10 ms to each). A call returns
// only after its commit, and the relay acknowledges only then (a kill -9
// loses no acknowledged announcement). A write that fails in a group is
// re-run alone, so every write function here recomputes its results from
// the transaction alone. Close drains the queue, then stops the committer.
//
// # Limits
//
// Window (default 72 h, at most MaxWindow = 720 h): a late announcement's
// epoch must lie in [now_epoch − window/epoch length, now_epoch] (else
// ErrStale); whole epoch buckets are deleted once their end is older than
// the window (Expire, run by the relay's sweep ticker). MaxBytes (default
// DefaultMaxBytes, 1 GiB) caps the counted bytes (keys, values and bbolt's
// 16-byte element header each): above it Late and Store fail with ErrFull
// and change nothing.
//
// # Forget
//
// Forget(epoch, secret) erases every announcement of that epoch whose
// forget tag is crypto.HistoryForgetTag(secret); a wrong secret erases
// nothing. Tags differ per epoch (CRYPTO.md), so they link nothing.
//
// Known gap: values are stored in the clear and bbolt does not zero freed
// pages, so erased and expired tokens and records stay readable in
// history.db until their pages are reused (a stolen disk sees them).
// relay/store closes the same gap with day keys outside the file
// (atrest.go); the history does not have that yet.
//
// Tests: TestLateMatchesStored (kinds, records, own origin),
// TestStaleAndWindow, TestExpireWholeEpochs, TestForgetBySecret,
// TestRestartKeepsHistory, TestMaxBytes, TestIdempotentRetry,
// TestCorruptValueIsAnError, TestLateTokenTwiceMatchesOnce,
// TestApplyGossipBatch; fuzz: FuzzDecodeHeader, FuzzDecodeRecord,
// FuzzDecodeMeta. Benchmarks: BenchmarkBytesPerUserDay,
// BenchmarkLateMatch.
package history
