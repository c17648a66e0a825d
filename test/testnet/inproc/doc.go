// Package inproc is the in-process testnet backend: real relay.Relay and
// node.Node values in this process, each with its own libp2p host on
// 127.0.0.1 (QUIC and TCP), bbolt files in the run's scratch directory,
// and the run's virtual clock injected as Config.Now. Friends are linked
// with the real invite/Link flow before virtual time starts; auto-accept
// is on for every friend so photos flow without a user.
//
// Offline periods close the node (its host and store) and open it again
// on the same data, like an app killed and restarted. A relay restart
// shuts the relay down and starts it again with the same identity, data
// and ports, so nodes' relay addresses stay valid.
//
// # Concurrency
//
// Each driver guards its current node or relay with a mutex; node events
// arrive on each node's event goroutine and go to Env.Emit.
//
// # Caveats
//
// Virtual time runs network.speedup times faster than wall time, but the
// node's own timers (retry back-off, epoch wait) are real durations
// computed from the injected clock; the runner's SetLocation calls every
// step wake the node loop, which keeps epochs on time in practice. Bytes
// per node are not counted on loopback (the node builds its own host). A
// host costs about 1 MiB, so a 2-core machine runs tens to a few hundred
// nodes this way.
//
// Backend's hooks (RelayListen, RelayOptions, NodeHost, NodeStats,
// RelayBytes) put the same nodes and relays on another network: package
// testnet/simnet uses them for go-libp2p's simulated network.
//
// TestTinyScenario checks the meeting flow (friends nearby find each other, both sides)
// and delivery to online friends end to end.
package inproc
