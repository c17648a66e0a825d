package node

import "github.com/libp2p/go-libp2p/core/host"

func (n *Node) startMDNS(h host.Host) {}
func (n *Node) stopMDNS()             {}
