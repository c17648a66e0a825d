package node

import (
	"github.com/imigee/imigee/crypto"
	proto "github.com/imigee/imigee/protocol"
)

// caps.go owns the Hello capability bits (Hello.caps, PROTOCOL.md): what
// this device advertises, what it remembers of each friend's, and the
// choice of the stream cipher for a new photo or video from them. Today
// there is one bit: the device opens version-3 stream chunks (AES-256-GCM)
// in hardware. An item goes out as version 3 only when this device and
// every recipient have the instructions, else as version 2
// (XChaCha20-Poly1305), which any release opens and which is the faster
// cipher without them (docs/CRYPTO.md).

// aesHardware reports whether n's CPU runs AES-GCM in hardware; tests
// replace it to play devices without the instructions (or of an older
// release, which advertise nothing).
var aesHardware = func(*Node) bool { return crypto.AESGCMHardware() }

// ownCaps is what n puts in its Hello.
func (n *Node) ownCaps() uint32 {
	if aesHardware(n) {
		return proto.HelloCapAESGCM
	}
	return 0
}

// noteCaps keeps the caps of f's verified Hello if they changed. It saves
// the friend record but does not mark the proximity state dirty (as
// updateFriend does): nothing of a meeting depends on caps.
func (n *Node) noteCaps(f *friend, caps uint32) {
	n.mu.Lock()
	same := f.saved.Caps == caps
	f.saved.Caps = caps
	n.mu.Unlock()
	if !same {
		if err := n.saveFriend(f); err != nil {
			n.log.Debug("friend caps not saved", "err", err)
		}
	}
}

// streamVersion is the stream cipher of a new item for the friends with
// the given IDs: version 3 if this device and every one of them open it
// in hardware, else version 2.
func (n *Node) streamVersion(to []string) uint8 {
	if !aesHardware(n) || len(to) == 0 {
		return crypto.StreamV2
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, id := range to {
		f, ok := n.friends[id]
		if !ok || f.saved.Caps&proto.HelloCapAESGCM == 0 {
			return crypto.StreamV2
		}
	}
	return crypto.StreamV3
}
