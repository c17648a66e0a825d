package e2e

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// AddrInfo turns an announcement (see Announced, ParseKV) into the one
// AddrInfo its "listen ADDR/p2p/ID" lines describe, and checks that they
// name the announced peer_id.
func AddrInfo(kv map[string][]string) (peer.AddrInfo, error) {
	var addrs []ma.Multiaddr
	for _, s := range kv["listen"] {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return peer.AddrInfo{}, fmt.Errorf("e2e: listen line %q: %w", s, err)
		}
		addrs = append(addrs, a)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("e2e: listen lines %v: %w", kv["listen"], err)
	}
	if len(infos) != 1 || len(kv["peer_id"]) != 1 || infos[0].ID.String() != kv["peer_id"][0] {
		return peer.AddrInfo{}, fmt.Errorf("e2e: listen lines %v do not match peer_id %v", kv["listen"], kv["peer_id"])
	}
	return infos[0], nil
}
