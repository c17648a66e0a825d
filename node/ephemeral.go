package node

import (
	"context"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/node/relayclient"
)

// One-off transport identities (P12, "senders are not their
// subscribers"). Every put (an item's blob group, a receipt or rejection,
// a parked link request) and every catch-up fetch of a past day runs on a
// client-only host made for it under a fresh key (clientHost), with its
// own connection and no subscription, closed when done. The relay sees a
// peer ID that appears once, does one thing and leaves; it cannot tie the
// put to the sender's mailboxes or announcements by peer ID or connection.
// It still sees the IP address the connection comes from (docs/relay.md).
//
// Cost: one libp2p handshake per batch (QUIC: one round trip plus the TLS
// and identify exchange, a few KB; TestTransportCost measures it).

// transportStats counts what the transport design costs, for tests and
// measurements: hosts made (announce, mailbox and one-off identities) and
// one-off sessions.
type transportStats struct {
	hosts   atomic.Int64
	oneOffs atomic.Int64
}

// relayClientFor returns a client to relay ai on a one-off identity.
// release closes the client and its host.
func (n *Node) relayClientFor(ai peer.AddrInfo) (*relayclient.Client, func(), error) {
	if _, err := n.host(); err != nil {
		return nil, nil, err
	}
	h, err := n.clientHost()
	if err != nil {
		return nil, nil, err
	}
	n.tstats.oneOffs.Add(1)
	c := relayclient.New(n.relayHost(h), ai, relayclient.Config{Timeout: MailboxPutTimeout, MaxStreams: 2})
	return c, func() {
		c.Close()
		h.Close()
	}, nil
}

// withOneOff runs f with a client to relay ai on a one-off identity.
func (n *Node) withOneOff(ctx context.Context, ai peer.AddrInfo, f func(c *relayclient.Client) error) error {
	c, release, err := n.relayClientFor(ai)
	if err != nil {
		return err
	}
	defer release()
	return f(c)
}
