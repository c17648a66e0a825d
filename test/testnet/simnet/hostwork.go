package simnet

// Background work of simulated libp2p hosts that can find nothing on the
// simulated network, made coarser for the length of a run. This file owns
// those settings; which options each host gets is simnet.go's.

import (
	"time"
	_ "unsafe" // go:linkname

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/config"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/network"
	_ "github.com/libp2p/go-libp2p/p2p/host/basic" // the variable below
)

// AddrRecheck is how often a simulated host recomputes its own addresses
// during a run: every hour instead of go-libp2p's 5 s.
//
// go-libp2p's address manager (p2p/host/basic, addrs_manager.go) wakes
// every 5 s on every host to re-read its listen addresses and interfaces
// and recompute what it advertises, so that a real device notices a
// network change. On the simulated network nothing ever changes under a
// host: each has one fixed address (a phone's new address comes with a
// new host at a start or daily rotation), there are no interfaces to read,
// and AutoNAT and identify's address discovery are off. What a host does
// change itself (Listen, a reachability event) still triggers an update
// at once, through the manager's own event channels, not the ticker. So
// the tick never found anything, and at 1,000 phones it woke 200 hosts a
// second for nothing. The node and relay code are unchanged; only the
// simulated hosts tick less.
const AddrRecheck = time.Hour

// noConnManager gives a simulated phone's host no connection manager
// instead of go-libp2p's default one (low and high water 160 and 192
// connections): its two tickers (the decayer's and the trim check's) woke
// every host every few seconds, about 2.5 % of a 1,000-phone run's CPU,
// and a phone of the simulation holds a relay connection and a few
// friends' at most, so the manager never trimmed anything. The node does
// not use the manager (no tags, no protection); a phone's own host
// (node/host.go) keeps go-libp2p's default.
var noConnManager = libp2p.ConnectionManager(connmgr.NullConnMgr{})

// noAutoNATProbes keeps a simulated phone's AutoNAT client from probing:
// its reachability is fixed at unknown, which is what the probes found
// anyway, since no host of the simulation runs the AutoNAT service
// (noAutoNAT), yet they looked for a peer to probe every few seconds on
// every host, about 2 % of a 1,000-phone run's CPU. With a forced
// reachability go-libp2p makes a static AutoNAT that reports it once.
func noAutoNATProbes(cfg *config.Config) error {
	r := network.ReachabilityUnknown
	cfg.AutoNATConfig.ForceReachability = &r
	return nil
}

// addrChangeTickrInterval is go-libp2p's unexported period (v0.51.0); it
// is read when a host starts, so setting it before the run's hosts start
// applies to all of them. No exported option sets it.
//
//go:linkname addrChangeTickrInterval github.com/libp2p/go-libp2p/p2p/host/basic.addrChangeTickrInterval
var addrChangeTickrInterval time.Duration

// coarserHostWork sets AddrRecheck for a run and returns what restores
// go-libp2p's own value.
func coarserHostWork() (restore func()) {
	old := addrChangeTickrInterval
	addrChangeTickrInterval = AddrRecheck
	return func() { addrChangeTickrInterval = old }
}
