// Package localstore is the node's on-device store: one bbolt file holding
// the identity, friends (cards, pair keys, settings), outbox, inbox, seen
// item IDs, settings, retry state and per-relay fetch state.
//
// # Encryption at rest
//
// The app supplies a 32-byte store key (from the platform keystore). Two
// keys are derived from it with HKDF: a name key and a value key. Every
// record name inside a bucket is HMAC-SHA256(name key, bucket ‖ 0 ‖ id)
// truncated to 16 bytes, so names such as friend IDs or item IDs never
// appear in the file; every value is secretbox-sealed under the value key
// with a random nonce, prefixed inside the box by a MAC binding it to its
// bucket and name (a record moved to another name fails to open), and
// padded to 64 bytes. Bucket names are fixed words (friends, inbox, ...).
// Without the key the file shows bucket names, record counts and padded
// sizes, nothing else (TestFileRevealsNothing greps the raw file for known
// plaintexts).
//
// A wrong key is detected at Open by a canary record (ErrBadKey). A file
// held open by another process (bbolt's exclusive flock) makes Open fail
// with ErrLocked after LockTimeout (TestOpenLocked).
//
// # Concurrency
//
// A Store is safe for concurrent use. Writers are serialised by bbolt; use
// Update to make several changes atomically (read-modify-write of a record).
// Close and Wipe wait for transactions in flight.
//
// # Caveats
//
// bbolt files never shrink; the node's data is small (metadata only; media
// lives in files beside the store). Wipe overwrites the file before removing
// it, which flash storage may not honour; the store key held by the app is
// what makes old blocks unreadable.
package localstore
