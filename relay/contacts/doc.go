// Package contacts is the relay side of contact matching
// (/imigee/contacts/1, docs/CRYPTO.md "Contact matching"): it owns this
// relay's OPRF key and evaluates its stage of the network's chain over
// blinded elements, prices each batch with a proof of work, caps
// evaluations per connection and per address prefix per day, and keeps
// pending pair entries (an opaque 32-byte ID, a sealed offer of one size
// and a withdraw hash) in its own bbolt file until they match, are
// withdrawn, or expire (at most 30 days after they were first posted).
//
// It never sees a handle, a phone number or anything derived from one in
// the clear: blinded elements are uniformly random to it, entry IDs are
// outputs of the whole chain, offers are sealed under a key derived from
// that output. A relay of a single-relay network holds every key of the
// chain and could test guessed pairs; docs/relay.md says so.
//
// # Concurrency
//
// Service is safe for concurrent use: each stream runs its own request loop
// (one goroutine, the caller's) that reads a request and writes its answer
// with a deadline, so no lock is held across a network write. The rate
// counters are guarded by Service.mu; bbolt serialises writers. Sweep is
// called by the relay's background loop.
//
// # Relay limits
//
// The relay serves streams with ServeLimited (serve.go): the same order as
// its own services — idle_timeout between frames, read_timeout within one,
// the connection's rate limiter charged per frame (and per 64 repeated
// elements) before decoding, frame buffers and responses reserved with the
// relay's memory budget. The day budgets above come on top, keyed by
// connection and by /24 or /48 prefix on purpose (docs/relay.md). Tests:
// relay TestContactsRateCharged and TestContactsMemoryReserved.
package contacts
