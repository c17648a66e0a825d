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
package contacts
