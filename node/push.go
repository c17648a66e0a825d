package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	lprotocol "github.com/libp2p/go-libp2p/core/protocol"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/localstore"
	proto "github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// Push registration (the relay side is relay/push.go). The app hands the
// node an opaque push endpoint (a UnifiedPush or WebPush URL from its push
// provider) with SetPushEndpoint. Each time the node goes to sleep
// (SetAppState(AppBackground), or the end of a SyncOnce in the
// background) it registers that endpoint at each of its relays for the
// mailboxes it just watched (today's and tomorrow's from every friend,
// and its invites'), proving control of each as for a subscription, over
// the encrypted channel to that relay only. A blob put there while no live
// subscription watches it makes the relay POST an empty wake-up to the
// endpoint; the app then calls SyncOnce. The registration lives
// PushTTL at most, in the relay's memory only; a device asleep longer
// than a day misses pushes for the new day's mailboxes until its next
// background fetch registers again.

const (
	// PushTTL is the life the node asks for a registration: 48 h (the
	// mailboxes it covers change daily).
	PushTTL = 48 * time.Hour
	// PushRegisterTimeout bounds registering at all relays on the way to
	// sleep: 3 s.
	PushRegisterTimeout = 3 * time.Second
)

const pushEndpointName = "push-endpoint" // Meta record

// ErrPushRefused: a relay refused the push registration (push off there,
// host not on its allow-list, or a limit).
var ErrPushRefused = errors.New("node: push registration refused")

// SetPushEndpoint sets the push endpoint the relays wake this device at
// (an absolute http(s) URL from the platform's push provider); "" removes
// it (the registrations at the relays expire within PushTTL). It takes
// effect the next time the node goes to sleep.
func (n *Node) SetPushEndpoint(endpoint string) error {
	if endpoint == "" {
		return n.store.Delete(localstore.Meta, pushEndpointName)
	}
	if len(endpoint) > proto.MaxPushEndpointLen {
		return fmt.Errorf("node: push endpoint too long: %w", ErrBadArgument)
	}
	if _, err := proto.ParsePushEndpoint(endpoint); err != nil {
		return fmt.Errorf("node: push endpoint: %w", ErrBadArgument)
	}
	return n.store.Put(localstore.Meta, pushEndpointName, []byte(endpoint))
}

func (n *Node) pushEndpoint() string {
	b, err := n.store.Get(localstore.Meta, pushEndpointName)
	if err != nil {
		return ""
	}
	return string(b)
}

// registerPushAll registers the endpoint at every relay with a session,
// in parallel, within PushRegisterTimeout. Failures are logged: the device
// still wakes for its own timers and background fetches.
func (n *Node) registerPushAll() {
	ep := n.pushEndpoint()
	if ep == "" {
		return
	}
	if _, err := n.host(); err != nil {
		return
	}
	n.mu.Lock()
	relays := make([]peer.AddrInfo, 0, len(n.rconns))
	for _, rc := range n.rconns {
		relays = append(relays, rc.ai)
	}
	n.mu.Unlock()
	keys, _ := n.inboundKeys(n.today(), n.today()+1)
	keys = append(n.inviteKeys(), keys...)
	if len(keys) == 0 {
		return
	}
	if len(keys) > proto.MaxAuthsPerRequest {
		keys = keys[:proto.MaxAuthsPerRequest]
	}
	ctx, cancel := context.WithTimeout(n.ctx, PushRegisterTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, ai := range relays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// P12: on a one-off identity, not the announce or mailbox
			// one (the endpoint itself still names the device; see
			// docs/relay.md "What a relay learns").
			h, err := n.clientHost()
			if err != nil {
				return
			}
			defer h.Close()
			n.tstats.oneOffs.Add(1)
			h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
			if err := registerPush(ctx, h, ai.ID, keys, ep); err != nil {
				n.log.Debug("push registration failed", "err", err)
			}
		}()
	}
	wg.Wait()
}

// registerPush runs one PushProtocol exchange with relay rid.
func registerPush(ctx context.Context, h host.Host, rid peer.ID, keys []ed25519.PrivateKey, endpoint string) error {
	s, err := h.NewStream(ctx, rid, lprotocol.ID(proto.PushProtocol))
	if err != nil {
		return fmt.Errorf("node: push: open stream: %w", err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	var ch pb.PushChallenge
	if err := proto.ReadPushChallenge(s, &ch); err != nil {
		s.Reset()
		return fmt.Errorf("node: push: challenge: %w", err)
	}
	req := &pb.PushRegister{Endpoint: endpoint, TtlSeconds: uint32(PushTTL / time.Second)}
	for _, k := range keys {
		id, sig := crypto.SignMailboxAuth(k, crypto.OpSubscribe, ch.Nonce)
		req.Auth = append(req.Auth, &pb.MailboxAuth{MailboxId: id[:], Pub: k.Public().(ed25519.PublicKey), Sig: sig})
	}
	if err := proto.WriteMsg(s, req); err != nil {
		s.Reset()
		return fmt.Errorf("node: push: send: %w", err)
	}
	var res pb.PushResult
	if err := proto.ReadPushResult(s, &res); err != nil {
		return fmt.Errorf("node: push: result: %w", err)
	}
	if res.Error != nil {
		return fmt.Errorf("%w: %w", ErrPushRefused, proto.FromPB(res.Error))
	}
	return nil
}
