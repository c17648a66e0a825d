// Package relayabuse attacks a real imigee-relay daemon (a child process
// built by TestMain) the way one machine would, one test per row of issue
// 17's table, each scaled down to a few seconds. Every test runs a
// legitimate client from another source address ([::1]; the attacker uses
// 127.0.0.1) that keeps putting, fetching and comparing blobs and
// announcing during the attack, samples the relay's RSS from
// /proc/PID/status, and checks that:
//
//   - every legitimate put, fetch (byte-identical) and announce succeeds;
//   - the relay's RSS stays under its pre-attack level plus the configured
//     memory budget plus a stated runtime overhead (rssOverhead);
//   - after the attack, the relay's anonymous memory (RssAnon: VmRSS
//     without the page cache of its memory-mapped database, which grows
//     with stored data and which the kernel reclaims) returns to within 2×
//     its pre-attack level plus 16 MiB, polled for up to 45 s.
//
// Which test proves what:
//   - TestFloodInvalidFrames: 1 MiB frames of empty sub-messages on 16
//     streams cost a frame-header read each (per-body frame caps, pre-scan
//     counting, rate charge before decoding), never a decode.
//   - TestStorageQuota: eight identities on one address cannot fill the
//     global quota; another address still stores (per-source allowance,
//     fair share).
//   - TestRendezvousEpochLengths: announcing under many epoch lengths and
//     from several connections cannot fill the engine (one accepted length,
//     per-connection and per-source caps).
//   - TestRendezvousRecordFlood: four connections from one address
//     announcing one token per full 512-byte record are refused with
//     UNAVAILABLE at the address's memory share (rendezvous entries and
//     records are reserved with the one memory budget) while a legitimate
//     announce from another address is accepted.
//   - TestSlowloris: 128 streams with a half-sent 1 MiB frame are cut after
//     read_timeout and pin at most the memory budget.
//   - TestSlowReader: 64 unread 4 MiB fetches pin at most the budget and
//     are dropped after write_timeout.
//   - TestChallengeLeak: rate-limited authenticated requests do not lock a
//     stream out of challenges.
//   - TestDecoderDetails: 100-deep unknown groups and two bodies are
//     refused with an id-0 error and the stream closed.
//
// IMIGEE_RELAY_BIN runs the suite against another imigee-relay binary (for
// instance one built from an older commit); IMIGEE_RELAYABUSE_OLD=1 then
// leaves out the config keys the old binary does not know.
package relayabuse
