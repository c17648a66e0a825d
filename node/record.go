package node

import (
	"context"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// recordingHost hands relayclient a host whose streams report every byte
// written to a relay to rec, with the transport identity it leaves on. It
// exists for the P3/P4 test, which proves that nothing sent to a relay
// carries a coordinate, cell or distance, and the P12 linkability test,
// which replays the relay's view; in production no hook is set and the
// plain host is used.
type recordingHost struct {
	host.Host
	rec func(local peer.ID, stream, protocol string, p []byte)
}

func (r recordingHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	s, err := r.Host.NewStream(ctx, p, pids...)
	if err != nil {
		return nil, err
	}
	return &recordingStream{Stream: s, rec: r.rec}, nil
}

type recordingStream struct {
	network.Stream
	rec func(peer.ID, string, string, []byte)
}

func (s *recordingStream) Write(p []byte) (int, error) {
	s.rec(s.Conn().LocalPeer(), s.Conn().ID()+"/"+s.ID(), string(s.Protocol()), append([]byte(nil), p...))
	return s.Stream.Write(p)
}

// relayHost is the host relay clients use.
func (n *Node) relayHost(h host.Host) host.Host {
	if n.relayRec == nil && n.relayObs == nil {
		return h
	}
	rec, obs := n.relayRec, n.relayObs
	return recordingHost{Host: h, rec: func(local peer.ID, stream, proto string, p []byte) {
		if rec != nil {
			rec(proto, p)
		}
		if obs != nil {
			obs(local, stream, proto, p)
		}
	}}
}
