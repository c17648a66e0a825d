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
// session never matches itself), the optional forget tag, the shared
// record once, and per friend (pb.Announcement) the sealed record (a
// 16-byte key share with Imigee nodes) and its tokens with their kind.
// Never a client identity, address or peer ID. Layout (layout.go): one
// top-level bucket per (epoch, epoch length), holding sub-buckets
//
//	a: aid(8)               → 2 ‖ originHash(8) ‖ n(2) ‖ n × (tokenHash|kind)(8) ‖ sealed body
//	o: originHash(8) ‖ aid  → ""   (a session's earlier announcements)
//	f: tagHash(8) ‖ aid     → ""   (forget index: a session's first announcement under the tag)
//
// where the body (origin, tag, shared record, records with their tokens
// and kinds) is sealed under the epoch's key and the hashes are keyed by
// it (keys.go); a "meta" bucket with each epoch bucket's byte and entry
// counts, so the totals survive a restart without a scan; and a "format"
// bucket naming the layout (2). Every stored value has a decoder that
// rejects what it did not write (the disk is input too; FuzzDecode*,
// FuzzOpenSealed).
//
// # Matching
//
// Late only: a late announcement is matched against the stored entries of
// its epoch (here=here and here=near match, near=near does not, as live)
// and then stored, in one write transaction, so two late announcements of
// the same epoch see each other whichever comes first. The match walks
// the epoch's values once, comparing their token hashes with the late
// announcement's (a hash set), and opens only the announcements that list
// one. Live announcements are matched live by relay/rendezvous and only
// stored here. A session re-announcing a token it already stored adds
// nothing (a near one announced again as here is upgraded: the near entry
// leaves its announcement's hash list), so retries are free; that check
// compares the session's stored entries by hash and opens nothing.
//
// # Durability and cost
//
// Writes go through one committer goroutine (commit.go, the pattern of
// relay/store): it commits whatever is queued in one transaction and one
// fsync, so concurrent announces share a commit and a lone one waits for
// no timer (bbolt's Batch would add up to 10 ms to each); the relay's
// gossip writer hands over whole batches (Apply). A call returns only
// after its commit, and the relay acknowledges only then (a kill -9 loses
// no acknowledged announcement). A write that fails in a group is re-run
// alone, so every write function here recomputes its results from the
// transaction alone. Close drains the queue, then stops the committer.
//
// An announcement costs two puts (its value and one origin entry; a
// session's first under a forget tag one forget entry more: Forget finds
// the session's others through the origin index), none per token: an
// index keyed by token put ≈ 500 keys per
// announcement of 100 friends on ≈ 500 random pages, which made storing
// gossip ≈ 27 % of a simulated day's CPU (issue 14). The price is the
// late match's walk over its epoch's values (BenchmarkLateMatch reports it
// beside the bare cursor walk); late announcements are rare beside
// gossiped ones, and the walk reads hashes only.
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
// # At rest (P8, stolen disk)
//
// bbolt does not zero freed pages, so what Forget and Expire delete stays
// in history.db until its page is reused. Everything there is sealed or
// hashed under its epoch's key (keys.go): one random key per epoch bucket
// in Config.KeyDir (default history.db.keys), outside the bbolt file,
// written durably before anything sealed under it commits and erased
// (zeroed, fsynced, removed) once the epoch leaves the window (Expire, and
// Open for what a crash left). So:
//
//   - Expired: a thief of the disk (file and key dir) reads nothing: the
//     ciphertext is left, its key is gone.
//   - Forgotten within the window: the forgotten announcement's sealed
//     value may stay in a freed page, and its epoch's key stays while the
//     epoch's other entries need it, so a thief of the disk who has both
//     can read it until the epoch leaves the window: at most window +
//     one epoch (72 h 10 min by default) after it was announced. Nothing
//     cheaper closes this: the relay must match the entries it keeps, so
//     their key must be on the relay; the device knows no secret the
//     relay could erase instead. Rewriting the epoch under a new key at
//     each forget would, at the cost of the epoch's whole size per forget.
//   - Within the window, the raw file alone (no key dir) shows no token,
//     record, shared record, origin or tag: index keys are keyed hashes.
//
// A file of the clear-text layout (before format 2) is not read: on Open
// it is overwritten with zeros, removed and started afresh, with one log
// line (it held at most a window of rendezvous data; late meetings of
// that window are lost). Epochs whose key is missing (a lost key dir) are
// dropped on Open with a log line.
//
// Tests: TestLateMatchesStored (kinds, records, own origin),
// TestStaleAndWindow, TestExpireWholeEpochs, TestForgetBySecret,
// TestForgetReachesEverySessionAnnouncement, TestForgetTagOnManySessions,
// TestForgetUnusualIndexes,
// TestRestartKeepsHistory, TestMaxBytes, TestIdempotentRetry,
// TestCorruptValueIsAnError, TestLateTokenTwiceMatchesOnce,
// TestApplyGossipBatch, TestRerunAfterGroupFailure, TestSessionSummary,
// TestDroppedCountedWithoutOpening,
// TestHashSet; at rest: TestAtRestNothingReadableAfterForgetAndExpire
// (the disk thief: fails on the clear-text layout),
// TestAtRestForgetBoundIsTheEpochKey, TestOldLayoutDiscarded,
// TestLostKeyDirDropsItsEpochs, TestValueBoundToItsSlot; fuzz:
// FuzzDecodeBody, FuzzDecodeStored, FuzzOpenSealed, FuzzDecodeSummary,
// FuzzDecodeMeta.
// Benchmarks: BenchmarkBytesPerUserDay, BenchmarkLateMatch,
// BenchmarkLateBatchDay, BenchmarkGossipApply.
package history
