// Package relaye2e holds end-to-end tests of the imigee-relay daemon as an
// operator runs it: the real binary (built once per test run by TestMain,
// CGO off, like `make build`) started as a child process on 127.0.0.1,
// spoken to over real libp2p connections with the mailbox wire protocol,
// signalled, and killed with SIGKILL.
//
// Which test proves what (DESIGN.md properties):
//   - TestCrashSafetyKill9: an acknowledged put is durable — 64 concurrent
//     writers, kill -9 mid-stream, restart on the same data dir, every
//     acknowledged blob present and byte-identical; three cycles.
//   - TestP1NoPlaintextAtRelay (P1): items sealed with crypto's envelope and
//     containing a marker leave no trace of the marker in the relay's bbolt
//     file, its logs (debug level) or its live process memory; a control
//     marker put unsealed is found in the file and the memory, proving the
//     search works.
//   - TestP10MetricsAggregateOnly (P10): no label name or value on /metrics
//     could identify a user, peer, address, mailbox or token.
//   - TestSIGTERMDrainsInFlightPuts: SIGTERM during puts exits 0 and every
//     acknowledged put survives the restart.
//   - TestInitRunHealthcheck: init writes a config and a 0600 identity, run
//     -config uses them (same peer ID), healthcheck exits 0 while up and
//     non-zero after, /readyz turns 200.
//   - TestRetentionAbove30DaysRefused (P2): the daemon refuses to start with
//     a retention longer than 30 days, from a flag or a config file, and
//     applies a lower one (the expiry a put returns honours it).
//   - TestCompactOffline: compact refuses a database the running relay
//     holds, compacts it in place and to a copy once stopped, and the
//     restarted relay serves exactly the pending blobs.
//   - TestRelayclientAgainstDaemon: the node's real client library
//     (node/relayclient) against the daemon: subscribe, put, pushed notify,
//     fetch, ack, forget, a rendezvous match pushed to both sides; then the
//     P10 check again with that traffic behind it.
//
// Most tests use a minimal mailbox client written against the wire
// protocol (client_test.go), so they also check the framing a third-party
// client would see; TestRelayclientAgainstDaemon uses node/relayclient.
//
// Caveats: the memory search needs Linux /proc and ptrace rights over the
// child (it is skipped elsewhere). The child is not built with -race.
package relaye2e
