// Command imigee-relay runs an Imigee relay: it keeps sealed blobs for
// offline friends (at most 30 days, deleted on delivery), runs the
// proximity rendezvous in memory, and helps NAT'd phones reach each other.
// It never sees content, senders or locations.
//
// Subcommands: init, run, version, healthcheck, compact. Run
// "imigee-relay help" or "imigee-relay <command> -h" for details; the
// operator guide is docs/relay.md.
//
// Exit codes: 0 success (including a graceful SIGTERM shutdown), 1 runtime
// failure, 2 usage error.
//
// Structure: one file per subcommand (init.go, run.go, healthcheck.go,
// compact.go, version.go), the config file and its commented rendering
// (config.go: relay.Config embedded at the top level plus the daemon's
// identity_file, shutdown_timeout, [admin] and [log]), the identity key
// (identity.go) and the admin HTTP server (admin.go).
//
// Concurrency: run owns the relay and the admin server; the admin server's
// goroutine is stopped and waited for on shutdown; SIGTERM/SIGINT cancel
// the signal context, after which default signal handling is restored (a
// second Ctrl-C kills at once) and relay.Shutdown drains in-flight requests
// within shutdown_timeout.
//
// Tests: main_test.go (config rendering and round trip, every key
// documented in the file and in docs/relay.md, unknown keys, retention
// ceiling, loopback-only admin, identity modes, init, flag precedence);
// end-to-end with the real binary in test/relaye2e (crash safety, P1, P10,
// SIGTERM drain, init/run/healthcheck, retention, compact).
package main
