// Package simnet is the simulated-network testnet backend (experimental):
// the real node.Node and relay.Relay of package inproc, but every host
// speaks QUIC over github.com/marcopolo/simnet links (the network of
// go-libp2p's x/simlibp2p) with the scenario's one-way latency and
// per-node bandwidth (relays get RelayBandwidthFactor times more), and
// the whole run goes inside a testing/synctest bubble, so time is virtual:
// it stands still while anything computes and jumps to the next timer
// when every goroutine waits. A simulated hour of ten nodes takes about
// five seconds of wall time.
//
// Node hosts come from node.Config.HostFactory: each start and daily
// transport rotation gets a QUIC-only host on a fresh simulated public
// IPv4 address, with identify address discovery and AutoNAT off (both
// would leave the simulated network or stall the bubble, see noAutoNAT)
// and a byte counter (stream payload bytes) that fills the per-node
// traffic of the results. Relays listen on fixed simulated addresses
// through relay.Config.ListenAddrs and HostOptions.
//
// synctest has one entry point, synctest.Test(t, f), so a run needs a
// *testing.T: Run and RunScenario are called from tests, and
// `imigee-testnet run --mode simnet` runs TestSimScenario with `go test`
// (the scenario and results directory in the environment, EnvScenario and
// EnvOut).
//
// # Determinism
//
// For a seed, graph, mobility, ground truth and workload are identical,
// and Run seeds crypto/rand from the scenario seed
// (testing/cryptotest.SetGlobalRandom), so keys, peer IDs and nonces
// repeat. Goroutines that wake at the same virtual instant still run in
// the Go scheduler's order, and math/rand and map order are not seeded,
// so a run's detections, deliveries and missed meetings repeat but
// latencies and byte counts vary by a few milliseconds and bytes between
// runs (TestSimSameSeed compares the stable part of summary.json).
//
// # Concurrency
//
// Everything of a run, including the simulated network's goroutines,
// lives in the bubble and ends before Run returns. The world's mutex
// guards address allocation and simnet's endpoint list (simnet does not
// lock it); byte counters are atomics.
//
// # Caveats
//
// Inside the bubble a goroutine waiting on a sync.Mutex is not durably
// blocked: code that holds a mutex across network I/O while another
// goroutine waits for it stops virtual time for good (the run hangs). The
// node's mailbox catch-up did so on restarts; see TestSimSmall. Only
// UDP/QUIC exists on simnet (no TCP, no mDNS, no hole punching: every
// address is public).
//
// TestSimSmall checks meeting and delivery at scale (friends within 50 m for a whole epoch find
// each other, both sides, no false detections) and delivery to online
// and returning friends on the simulated network.
package simnet
