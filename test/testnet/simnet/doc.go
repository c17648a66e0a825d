// Package simnet is the simulated-network testnet backend: the real
// node.Node and relay.Relay of package inproc, but every host speaks QUIC
// over a simulated packet network with the scenario's one-way latency and
// per-node bandwidth (relays get RelayBandwidthFactor times more), and
// the whole run goes inside a testing/synctest bubble, so time is virtual:
// it stands still while anything computes and jumps to the next timer
// when every goroutine waits.
//
// The network (wire.go) is this package's own: one endpoint (a
// net.PacketConn for quic-go, swapped in with libp2p.QUICReuse as
// go-libp2p's x/simlibp2p does) per host, an up and a down link per
// endpoint with a bandwidth and a 50 ms drop-tail queue (MaxQueueDelay),
// a fixed latency in between, and one goroutine that moves packets.
// github.com/marcopolo/simnet, which x/simlibp2p uses and this package
// used first, runs two goroutines per link and one router, so a packet
// took four goroutine hand-offs and the order of packets sent at one
// instant followed the Go scheduler; see Determinism.
//
// Node hosts come from node.Config.HostFactory: each start and daily
// transport rotation gets a QUIC-only host on a fresh simulated public
// IPv4 address (the k-th host of node i always gets the same one), with
// identify address discovery and AutoNAT off (both would leave the
// simulated network or stall the bubble, see noAutoNAT) and a byte
// counter (stream payload bytes) that fills the per-node traffic of the
// results. Relays listen on fixed simulated addresses through
// relay.Config.ListenAddrs and HostOptions. Stores run without fsync
// (node.Config.NoSync, relay.Config.NoSync). During a run every host
// recomputes its own addresses hourly instead of go-libp2p's 5 s
// (hostwork.go, AddrRecheck): nothing can change under a simulated host,
// and the 5 s tick of a thousand hosts cost 2–3 % of a run's CPU.
//
// # Lite transport
//
// With network.transport = "lite" (lite.go, litestream.go) every host
// gets, instead of QUIC, a libp2p transport.Transport of this package
// that carries each stream write (in chunks of LiteChunk) as one reliable
// message over the same wire: the same endpoints, addresses
// (/ip4/…/udp/4001/quic-v1, so nodes and relays see the same multiaddrs),
// links, latencies, jitter and NATs; no TLS, no QUIC packets or ACKs, one
// settle per message instead of per packet. Security and multiplexing are
// the simulation's (identities are handed over in the dial; streams are a
// map per connection). It leaves out congestion control, flow control and
// drop-tail loss, and turns random loss into a retransmission delay
// (LiteResendRTTs). Node and relay code are the same in both modes; for
// relays, whose options register QUIC and TCP themselves, the lite
// transport replaces them (world.transport). In lite mode the relays'
// identical signature checks of gossip messages are done once per run
// (sigmemo.go). QUIC stays the default. TestLiteMatchesQUIC runs
// testdata/sameseed.toml in both modes and checks the same meetings,
// detections and deliveries (each copy by the same path), times within
// LiteTimeTolerance + LiteTimeRelTolerance; TestLiteStream and
// TestLiteDialFailures check the stream semantics (order, end of stream,
// reset, cancelled reads, deadlines, connection close) and the NAT. What
// it saves is in docs/testnet.md ("Simulated network: measurements").
//
// synctest has one entry point, synctest.Test(t, f), so a run needs a
// *testing.T: Run and RunScenario are called from tests, and
// `imigee-testnet run --mode simnet` runs TestSimScenario of this
// package's compiled test binary, shipped as imigee-testnet-simnet next to
// the command (make testnet-bin), with the scenario and results directory
// in the environment (EnvScenario, EnvOut). A run sets GOMAXPROCS to 1,
// GOGC to 1200 and a soft memory limit of three quarters of the machine's
// memory (RunProcs, RunGCPercent, RunMemoryFraction; the environment
// wins). EnvHeapProfile writes heap profiles during a run.
//
// # Determinism
//
// For a seed, graph, mobility, ground truth and workload are identical,
// and Run gives every component its own random stream (streams.go):
// crypto/rand.Reader becomes one ChaCha8 stream per (component, draw
// site), seeded with SHA-256(seed, node/i or relay/j or driver, the
// function that asked), the component read from the goroutine's pprof
// label (testnet.InComponent, which inproc wraps around every call into a
// node or relay and which goroutines inherit). The standard library's
// crypto, which since Go 1.26 ignores a caller's reader, is made to use
// it (//go:debug cryptocustomrand=1; its randutil.MaybeReadByte is
// answered without a draw), so the ECDSA signatures of every TLS
// handshake, whose DER length follows the nonce, are the same size on
// every run; testing/cryptotest.SetGlobalRandom seeds what it draws
// without a reader. So keys, peer IDs, item IDs, nonces and handshake
// sizes repeat, and a node's item IDs do not shift when another node, or
// the node's QUIC stack, drew first — which is what made summaries differ
// before (one shared seeded stream consumed in goroutine order). What a
// seed cannot fix is the order in which goroutines that wake at the same
// virtual instant run: select picks among ready cases, and maps iterate,
// with the runtime's own random numbers, which are seeded from the
// kernel at process start (runtime/rand.go, AT_RANDOM); the garbage
// collector and the preemption of a goroutine that has held its thread
// for 10 ms of wall time (at its next function call even with
// asyncpreemptoff=1, which only stops the signal) follow wall time; and
// under -race the scheduler shuffles its run queues on purpose
// (runtime.randomizeScheduler). go-libp2p, quic-go and the node are full
// of all three. So the simulation is made not to care:
//
//   - the wire lets the run settle (synctest.Wait: every other goroutine
//     durably blocked) before it takes the packets written since, sorts
//     them by source and destination (keeping each pair's write order),
//     orders one source's lite streams by content, each stream's data
//     of the round joined into one message, and only then puts them on
//     their links; ties of one instant on a link go by content too
//     (wireorder.go: addresses of one-off hosts, stream ids and how many
//     writes a stream's bytes took follow goroutine order);
//   - it delivers one packet at a time, each at an instant of its own,
//     and lets the run settle after each, so what a packet causes happens
//     before the next one arrives;
//   - the runner settles (testnet.Settler) before it feeds positions,
//     after each workload action and before it samples, so what it does
//     and reads does not race the nodes;
//   - the node itself lets no goroutine race decide a time: after a
//     reconnect the pending and the full mailbox catch-up run one after
//     the other (node.catchUpAfterSubscribe), not as two goroutines
//     racing for the fetch slot, which moved a returning phone's mailbox
//     items by 160 ms;
//   - events are sorted by time, kind, node and peer, stamped with a
//     10 ms clock (EventResolution), and traffic is reported to 3
//     significant digits.
//
// The simnet tests also fix math/rand's global seed (//go:debug
// randautoseed=0), which go-libp2p-pubsub draws mesh and gossip peers
// from.
//
// Over the lite transport, which the simulation owns end to end, that is
// enough: two runs of a seed write byte-identical summary.json,
// meetings.csv, detections.csv, deliveries.csv and events.jsonl, with
// phones going offline and a relay restarting (TestSimSameSeed/lite on
// testdata/sameseed.toml; event times agreed to the nanosecond in most
// pairs: 23 of 23 pairs identical under load; before stream writes were
// joined one pair in 46 had a detection one tick apart, possibly from
// go-libp2p-pubsub's own select and math/rand draws between the relays;
// see docs/testnet.md "Exact reproducibility"). Over QUIC it is
// not: how quic-go packs stream data into packets follows the order in
// which a connection's goroutine and the goroutines writing to its
// streams run (one 362-byte packet in one run, an 83- and a 305-byte one
// in the next), packet times move by microseconds to milliseconds, and
// 2 of 11 run pairs had a delivery one 10 ms tick apart. Meetings, detections and delivery counts and paths stay equal
// (TestSimSameSeed/quic compares those). Under -race the relays' answers
// to a group announcing at one instant move by up to a few milliseconds
// in lite mode too, and the test compares counts only there.

// # Concurrency
//
// Everything of a run, including the wire's goroutine, lives in the
// bubble and ends before Run returns. The wire's mutex guards its
// endpoints, outbox and settle requests; links and the event heap belong
// to its goroutine; byte counters are atomics.
//
// # Caveats
//
// Inside the bubble a goroutine waiting on a sync.Mutex is not durably
// blocked: code that holds a mutex across network I/O while another
// goroutine waits for it stops virtual time for good (the run hangs;
// watchStall then exits after StallTimeout). Only UDP/QUIC exists on the
// simulated network (no TCP, no mDNS). The wire models per-phone access
// latency, jitter, loss and address-restricted NATs (Model, endOpts); with
// AutoNAT and address discovery off a host cannot learn it is NATed, so
// hole punching does not start. Nothing may call synctest.Wait inside a run but the wire.
//
// TestSimSmall checks meeting and delivery at scale (friends within 50 m
// for a whole epoch find each other, both sides, no false detections) and
// delivery to online and returning friends on the simulated network.
package simnet
