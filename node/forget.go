package node

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/node/relayclient"
	proto "github.com/imigee/imigee/protocol"
)

// Forget removes every trace of this user (P8): at every relay it uses, a
// signed Forget with every mailbox key it can derive for the retention
// window (both directions, so items it sent and items waiting for it go)
// also withdraws its rendezvous entries; then the node closes and wipes its
// store, pending copies and received files. If a relay cannot be reached
// the local wipe still happens and the error wraps ErrForgetRelay (test it
// with errors.Is); blobs left there expire within the retention window.
func (n *Node) Forget(ctx context.Context) error {
	n.wakeForForget(ctx)
	h, err := n.host()
	if err != nil && !errors.Is(err, ErrNotStarted) {
		return err
	}
	var relayErr error
	if h != nil {
		if err := n.forgetContacts(ctx); err != nil {
			relayErr = errors.Join(relayErr, fmt.Errorf("%w: contact entries: %w", ErrForgetRelay, err))
		}
		keys := n.allMailboxKeys()
		n.mu.Lock()
		relays := append([]peer.AddrInfo(nil), n.relays...)
		n.mu.Unlock()
		for _, ai := range relays {
			n.mu.Lock()
			rc := n.rconns[ai.ID]
			n.mu.Unlock()
			c := (*relayclient.Client)(nil)
			if rc != nil {
				c = rc.c
			} else {
				c = relayclient.New(h, ai, relayclient.Config{})
				defer c.Close()
			}
			if rc != nil && rc.rv != nil {
				_, _ = rc.rv.Withdraw(ctx)
			}
			if err := n.forgetHistory(ctx, c); err != nil {
				relayErr = errors.Join(relayErr, fmt.Errorf("%w: history: %w", ErrForgetRelay, err))
			}
			ks := keys
			if len(ks) == 0 {
				// No friends: still withdraw this connection's entries.
				continue
			}
			for len(ks) > 0 {
				batch := ks[:min(len(ks), proto.MaxAuthsPerRequest)]
				ks = ks[len(batch):]
				if _, err := c.Forget(ctx, batch); err != nil {
					relayErr = errors.Join(relayErr, fmt.Errorf("%w: %w", ErrForgetRelay, err))
					break
				}
			}
		}
	}
	if err := n.Close(); err != nil {
		return err
	}
	werr := n.store.Wipe()
	for _, d := range []string{n.media, n.outdir} {
		if err := os.RemoveAll(d); err != nil && werr == nil {
			werr = err
		}
	}
	return errors.Join(relayErr, werr)
}
