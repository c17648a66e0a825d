// Package procs is the multi-process testnet backend: every relay is an
// imigee-relay process and every node an "imigee run" process, driven
// through the node's control socket (see cmd/imigee's package doc) and
// read through its "-json" event stream on stdout. It is the bridge to
// running on real machines: the same binaries and the same scenario file.
//
// # Pieces
//
//   - backend.go: Backend, the testnet.Backend. It plans the run (relay
//     keys and gossip peers, which machine gets which relay and node,
//     friend links) and drives nodes through Machines.
//   - machine.go: the Machine interface, what one computer does for a run
//     (create, start and stop relay and node processes, pass a control
//     command, share a photo, scrape a relay), and Worker, which opens a
//     Machine on another computer.
//   - host.go, hostnode.go, process.go: Host, the Machine that runs
//     processes here. Without workers the backend uses one Host on
//     127.0.0.1; a worker (package worker, "imigee-testnet worker")
//     serves a Host to a controller on another machine.
//
// Processes use the real clock, so a run needs network.speedup = 1 and
// lasts its duration in wall time. Node byte counts are not available
// (0); relay stats come from each relay's admin /metrics endpoint (on
// 127.0.0.1 of the relay's machine).
//
// # Concurrency
//
// Each process has one goroutine reading its stdout and waiting for it,
// owned by the process: Stop waits for it. A Host's mutex guards its
// tables of relays and nodes; each relay's and node's mutex guards its
// current process. Events arrive on those reader goroutines.
//
// # Caveats
//
// A Host passes only the control commands the backend needs (CmdInvite,
// CmdLink, CmdAutoAccept, CmdLocate, CmdMessage); a photo is made by the
// Host itself, so a remote controller cannot name files. Relay ports are
// picked free at creation and reused at every restart; another program
// can take one in between.
//
// # Tests
//
// TestProcsScenario runs three node processes and a relay for 40 s: the
// friends 49 m apart are detected by both (P5 end to end), nothing
// false, and every item arrives, including those shared to a node while
// it was offline. TestAssign checks the placement rule. The multi-machine
// path is tested in package worker.
package procs
