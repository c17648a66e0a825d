// Package store is the relay's durable mailbox store: sealed blobs kept in
// one bbolt file under mailbox IDs until the recipient acks them or they
// expire (DESIGN.md P2). The store sees only ciphertext and mailbox IDs;
// it never parses a blob.
//
// # Layout
//
// One bbolt file with three buckets (layout.go has the byte layout), and a
// key directory beside it (atrest.go):
//
//   - data: blobID ‖ chunk → at most dataChunk (986) bytes of the sealed
//     blob. Blob IDs start with the receive time, so data is appended at
//     the right edge of this tree into full pages.
//   - expiry: expiry ‖ blobID → sealed(mailbox ‖ size). Sweep reads only
//     the expired prefix, so its cost is proportional to what expires.
//     Expiry is receipt time plus retention, so this tree is appended to
//     as well. No key names a mailbox.
//   - meta: the format version and the retention in force.
//   - KeyDir (default Path + ".keys"): one random 32-byte key per day.
//
// # Encryption at rest and crypto-shredding
//
// Put seals the blob and its index entry (mailbox ID and size) with
// XChaCha20-Poly1305 under the key of the current day, on the caller's
// goroutine, so the committer does no crypto. A new day's key is written
// to KeyDir and fsynced before any blob sealed under it can commit. Sweep,
// after deleting what expired, erases every day key that no live blob
// uses once the day (plus a grace day) is past retention. bbolt does not
// erase freed pages, so acked and expired blobs stay in the file as
// ciphertext until their page is reused; from the key's erasure on, that
// ciphertext is unreadable, and the file alone never shows a mailbox ID or
// a plaintext byte. Whoever holds both the file and KeyDir before a key
// is erased can read that day's blobs, deleted ones included: the bound
// is retention plus two days (TestStolenDiskRevealsNothing). Sealing costs
// 44 bytes per blob and per index entry; BenchmarkStorePut64 against
// BenchmarkRawBoltBatch64 shows no measurable slowdown at 1 KiB. Open
// refuses a file whose unexpired blobs have no key (ErrKeysMissing: a
// wrong KeyDir) and drops expired ones without a key. Format 2 files
// (plaintext, mailbox in the expiry key) are migrated at Open.
//
// The mailbox index (mailbox → its blob IDs with expiry and size, in ID
// order) and the quota counters are kept in memory only (index.go) and
// rebuilt at Open by one scan of the expiry bucket, whose keys name every
// blob's mailbox, ID and expiry. Why: on disk, a mailbox ‖ blobID index
// puts every put on another leaf page (every put goes to another mailbox),
// and so did the per-mailbox counters; a 64-put commit wrote ~75 pages,
// ~50 of them scattered, and ran at 0.4× raw bbolt. With only time-ordered
// keys on disk a put appends to two trees like a log: ~30 pages per
// 64-put commit, about what raw bbolt writes for the same data. The price
// is memory (32 B per blob plus slice slack; TestBigChurn measures it) and
// an Open that scans the expiry bucket (TestBigChurn times it).
//
// Every write changes the chunks and the expiry entry in one transaction,
// and the index in step with it; Check verifies the index against the file
// (tests run it after use). A mailbox with no blobs has no index entry.
// Format 1 files (on-disk index) are migrated at Open (migrate.go).
//
// # Group commit and the durability contract
//
// Put, Ack, DeleteMailboxes and Sweep hand a request to one committer
// goroutine, owned by the Store and stopped by Close. The committer takes
// whatever is queued (up to MaxBatch requests and txBudget blob writes),
// applies it in one bbolt transaction and fsyncs once, then releases every
// requester. It drains the queue, yields the processor so runnable
// requesters can enqueue, and repeats while that brings more. Only if the
// batch is then smaller than the last commit released plus what queued
// meanwhile does it wait, at most fillWait (200 µs), for those writers to
// come back: without that wait a steady load of 64 writers splits into
// groups that alternate commits half full (measured: 50 puts per commit
// instead of 63). While one commit fsyncs, new requests queue for the
// next, so batches grow with load, and a lone request pays one fsync and
// no wait. (bbolt's DB.Batch instead waits up to 10 ms for a batch to
// fill, unless MaxBatchSize requests arrive first.)
//
// Put returns nil only after the commit holding the blob is fsynced, and a
// Put that returns an error did not store the blob, with one exception: a
// ctx that ends after the request was queued returns ctx.Err() although
// the blob may be stored (it then expires normally). Ack and
// DeleteMailboxes are durable on return. Quotas are checked by the
// committer, the index's only writer, against the in-memory counters just
// before the write, so the check and the write are atomic: a refused put (ErrMailboxQuota, ErrGlobalQuota)
// stores nothing and does not fail the other requests of its batch. Each
// blob is charged its size plus blobOverhead (1 KiB) so that floods of
// tiny blobs are bounded too, in bytes and in count. Blob IDs, and so receive times, are assigned
// by the committer in commit order and strictly increase, so a reader
// paging with `after` never misses a blob committed later.
//
// # Retention
//
// A blob expires Retention (at most MaxRetention, 30 days; Open refuses
// more with ErrRetention) after the relay clock at its commit. Reads skip
// expired blobs at once; the sweeper deletes them every SweepInterval. If
// the operator lowers Retention, Open shortens the expiry of blobs already
// stored (one pass over the index), so the new limit holds for them too.
// The clock is Config.Now, injectable for tests.
//
// # Disk reclaim
//
// bbolt files never shrink. The store keeps its file bounded by making
// every freed page reusable, in one file:
//
//   - Data is cut into 986-byte chunks so that every bbolt node fits one
//     4 KiB page (bbolt never splits a leaf of four or fewer keys). The
//     freelist then never has to find a contiguous run of pages, so every
//     freed page can take the next write; large values in multi-page
//     overflow runs fragment the freelist and grow the file instead.
//   - The data tree is time-ordered and uses FillPercent 1.0: new pages are
//     filled, and on delete bbolt merges pages that fall below half full.
//   - NoFreelistSync with the hashmap freelist: the freelist is not
//     written at each commit, so a large free list (after a mass delete)
//     does not slow commits; the price is a scan of the file at Open to
//     rebuild it. (Raw bbolt writes it each commit; with only appends it is
//     small then, but after a mass delete it costs BASELINES.md's 2,466 →
//     673 commits/s.)
//   - Both trees are time-ordered, so what expires or is drained together
//     was written together: deletes free whole pages, and bbolt merges
//     the pages that fall below half full.
//   - txBudget (1024 blob writes per commit) bounds how many pages a
//     commit copies and frees, so the pages "in flight" are a constant.
//
// TestChurnFileBounded runs 20 rounds of puts, sweeps and acks with a
// constant live set, mixed sizes up to 64 KiB, moving ~6× the live set
// through the store: the file stops growing after the first rounds and
// stays within 2 × the peak live data plus bbolt's growth slack (16 MiB).
// For a one-off shrink after the live set itself shrank (the file keeps
// its high-water mark), Compact copies the file offline
// (`imigee-relay compact`).
//
// # Concurrency
//
// All methods are safe for concurrent use. Writes are serialised by the
// committer. List, Count and Get read the in-memory index under its
// RWMutex and the data in a bbolt read transaction; they run in parallel
// with the committer and with each other. The committer changes the index
// while it applies a batch, before the commit is durable, so readers load
// the visibility horizon (Store.visible, the newest receive time of the
// last durable commit) before they open their transaction and stop at the
// first newer entry: a blob is listed only once its put could have
// returned, and IDs grow in commit order, so paging with `after` skips
// nothing. An ack removes the entry before its commit, so a reader that
// still sees the entry opened its transaction before the delete and finds
// the data there. A failed commit makes the committer rebuild the index
// from the file. Close stops new requests with ErrClosed, commits
// everything already queued, stops the sweeper, then closes the file
// (bbolt waits for open reads). Stats are atomics updated after each
// commit.
//
// # Caveats
//
//   - Freed pages are not zeroed: acked or expired blobs stay in the file,
//     sealed at rest, until their page is reused; they can be opened with
//     KeyDir until their day key is erased (retention + 2 days at most).
//     Backups of KeyDir undo the erasure for the days they hold.
//   - Key files are overwritten and removed; on flash storage an old block
//     may survive the overwrite (keep KeyDir on an encrypted volume if that
//     matters).
//   - Open scans the whole file to rebuild the freelist (NoFreelistSync)
//     and the expiry bucket to rebuild the index; TestBigChurn reports how
//     long for a million blobs, and the index's heap per blob.
//   - The index costs memory per stored blob (about 40–55 B with slack);
//     since every blob is charged at least 1 KiB of quota, GlobalQuota
//     bounds the heap too: at most 8M blobs, ≈ 450 MiB of index at the
//     default 8 GiB (TestTinyBlobFloodBounded).
//   - Count reads the counters, which include blobs expired less than one
//     SweepInterval ago and puts whose commit is in progress; List and Get
//     never return those.
//   - A lone writer still pays one fsync per Put (no batching partner).
//   - The file never shrinks below its high-water mark without Compact.
//
// # Tests for DESIGN properties
//
// P2 (deleted on ack, at the latest 30 days after receipt, operator may
// lower, never raise; pending blobs offered again): TestPutGetListAck (ack
// deletes at once, repeated ack harmless), TestRetentionThirtyDays,
// TestRetentionLimit, TestRetentionLoweredOnReopen, TestSweeperRuns,
// TestListPaging and TestListAfterNeverSkips (everything pending can be
// listed again). Durability of acknowledged puts across kill -9 of a real
// process: TestCrashKill9. Quotas store nothing: TestRejectionsStoreNothing.
// Forget: TestDeleteMailboxes. Erasure at rest: TestStolenDiskRevealsNothing
// (the raw file after ack and after expiry holds neither the blob nor its
// mailbox ID, the day key is gone; positive controls: a plaintext layout
// shows both to the same scan, the stored ciphertext opens with the key
// while it exists); a day key is kept while a live blob needs it, and
// erased on the next sweep after a crash: TestShredKeepsKeysInUse;
// format-2 migration: TestMigrateV2. The in-memory index agrees with the file
// after random acks and a reopen: TestIndexRandomAcks (and Check after
// every test); format-1 files are migrated: TestMigrateV1. Bounded disk
// under churn:
// TestChurnFileBounded. Close finishes in-flight puts:
// TestCloseFinishesInFlight. Measurements: BenchmarkRawBoltBatchDefault,
// BenchmarkRawBoltBatch64, BenchmarkStorePut64, BenchmarkDrain and
// TestBigChurn (IMIGEE_BIG=1).
package store
