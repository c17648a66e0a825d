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
//
//   - TestVectorsAgainstRelay: every request vector (valid and invalid) is
//     sent as its exact frame bytes; invalid ones are answered with the
//     vector's error code, valid ones with the matching body.
//
//   - TestErrorCodes: each code of the PROTOCOL.md Errors table a relay
//     sends (BAD_REQUEST, TOO_LARGE, QUOTA_EXCEEDED, RATE_LIMITED,
//     UNAUTHORIZED, STALE, UNAVAILABLE, UNSUPPORTED) from the situation the
//     spec names, with the response id the spec names, and that a stream
//     survives an error about a valid request; framing errors (over-long,
//     non-minimal, oversize length, malformed body) are answered with
//     {id:0, error} before the stream ends, and so is a request that
//     fails validation.
//
//   - TestMailboxFlow: put, challenge, fetch (ids_only, resume after a
//     blob), subscribe + pushed notify, ack, forget, single-use challenges.
//
//   - TestRendezvousFlow: both sides of a match get the other's record and
//     shared record; near=near does not match; a near token re-announced as
//     here becomes here (disagreement #1 of issue 16); Withdraw drops every
//     stream's entries of the connection (disagreement #3).
//
//   - TestPeerProtocol: a phone written from PROTOCOL.md against a real
//     `imigee run` node: it parses and verifies the invite (signature over
//     the re-encoded JSON), links over /imigee/link/1 with a hand-built
//     sealed payload, runs Hello both as initiator and as responder (the
//     node dialling it to deliver a message), sends a message and gets a
//     receipt that verifies over the spec's bytes, offers a photo that the
//     user declines (accept=false) and one it accepts (chunks, then a
//     receipt over the content hash), and meets NOT_FOUND (Resume of an
//     unknown item), INTERNAL (an offer that does not open) and a silent
//     reset (a wrong Hello proof). Cards, envelopes, pair keys and stream
//     chunks come from package crypto, whose bytes CRYPTO.md and its own
//     vectors pin.
//
// Caveats: REJECTED is never sent by today's devices (a decline is an
// OfferReply with accept=false) and INTERNAL by a relay only when its disk
// fails, so neither is provoked from a relay.
package interop
