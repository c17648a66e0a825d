// Package interop is an interoperability test of the imigee-relay daemon
// against docs/PROTOCOL.md, written as a second implementation would be:
// it builds every frame by hand (its own uvarint framing, bodies from the
// vector file protocol/testdata/vectors.json or encoded with the generated
// protobuf types of protocol/pb), signs mailbox proofs from the byte layout
// the spec gives, and reads the relay's answers with its own frame reader.
// It uses neither node/relayclient nor package protocol's reader, writer or
// validators, so a relay that drifts from the spec, or a spec that drifts
// from the relay, fails here.
//
// The relay is the real binary (built once by TestMain) run as a child
// process on 127.0.0.1 with a config file whose small limits make every
// error a relay can send reachable in a few seconds.
//
// Which test proves what:
//   - TestVectorsAgainstRelay: every request vector (valid and invalid) is
//     sent as its exact frame bytes; invalid ones are answered with the
//     vector's error code, valid ones with the matching body.
//   - TestErrorCodes: each code of the PROTOCOL.md Errors table a relay
//     sends (BAD_REQUEST, TOO_LARGE, QUOTA_EXCEEDED, RATE_LIMITED,
//     UNAUTHORIZED, STALE, UNAVAILABLE, UNSUPPORTED) from the situation the
//     spec names, with the response id the spec names, and that a stream
//     survives a per-request error; framing errors (over-long, non-minimal,
//     oversize length) are answered with {id:0, error} before the close.
//   - TestMailboxFlow: put, challenge, fetch (ids_only, resume after a
//     blob), subscribe + pushed notify, ack, forget, single-use challenges.
//   - TestRendezvousFlow: both sides of a match get the other's record and
//     shared record; near=near does not match; a near token re-announced as
//     here becomes here (disagreement #1 of issue 16); Withdraw drops every
//     stream's entries of the connection (disagreement #3).
//
// Caveats: NOT_FOUND, REJECTED and INTERNAL are not sent by a relay in
// normal operation (the first two are peer codes; INTERNAL needs a failing
// disk), so this package does not provoke them.
package interop
