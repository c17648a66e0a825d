package mobile

import "github.com/imigee/imigee/node"

// More event kinds and failure reasons of asynchronous sharing.
const (
	// EventSealing: a shared photo or video is being sealed in the
	// background (Done of Total bytes).
	EventSealing = node.EventSealing
	// EventReceiveProgress: receiving an item (Done of Total bytes).
	EventReceiveProgress = node.EventReceiveProgress
	// FailCancelled: the sender cancelled the item (CancelItem).
	FailCancelled = node.FailCancelled
	// FailSource: the shared file changed or vanished while being sealed.
	FailSource = node.FailSource
)

// ShareBytes shares content held in memory (at most 64 MiB; copied):
// typ is "photo" or "video", name the file name shown to the recipient.
// Like SharePhoto it returns the item ID at once and seals in the
// background.
func (m *Node) ShareBytes(typ, name string, data []byte, friendIDs string) (id string, err error) {
	return call(m, "ShareBytes", func(n *node.Node) (string, error) { return n.ShareBytes(typ, name, data, splitList(friendIDs)) })
}

// CancelItem stops sharing an item: sealing stops, transfers in flight
// are cut, the pending copy is deleted and each recipient not yet served
// gets delivery_failed with FailCancelled. Copies already left in a
// friend's mailbox stay there until fetched or expired.
func (m *Node) CancelItem(id string) error {
	return m.do("CancelItem", func(n *node.Node) error { return n.CancelItem(id) })
}
