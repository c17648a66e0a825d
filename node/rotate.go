package node

// maybeRotate replaces the libp2p host with one under a fresh transport
// identity once the current one is TransportRotation old (by the injected
// clock), so a relay cannot link one user's days together (P12). Streams in
// flight on the old host break and are retried; relay sessions (mailbox
// subscription, rendezvous) are reopened from the new host.
func (n *Node) maybeRotate() {
	n.mu.Lock()
	due := n.h != nil && !n.closed && n.cfg.Now().Sub(n.hostBorn) >= TransportRotation
	n.mu.Unlock()
	if !due {
		return
	}
	h, err := n.newHost()
	if err != nil {
		n.log.Warn("transport rotation failed; keeping the old identity", "err", err)
		return
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		h.Close()
		return
	}
	old := n.h
	n.h, n.hostBorn = h, n.cfg.Now()
	n.prox = nil
	n.mu.Unlock()
	n.closeRelays()
	old.Close()
	n.attachRelays(n.ctx, h)
	n.stopMDNS()
	if n.cfg.EnableMDNS && n.cfg.HostFactory == nil {
		n.startMDNS(h)
	}
	n.log.Debug("transport identity rotated")
}

// TransportID returns the current transport peer ID (what relays and
// friends' devices see; it rotates). Empty before Start.
func (n *Node) TransportID() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.h == nil {
		return ""
	}
	return n.h.ID().String()
}
