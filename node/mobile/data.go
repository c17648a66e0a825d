package mobile

import "github.com/imigee/imigee/node"

// EventFriendPending: Link parked the request for an offline inviter;
// EventFriendLinked follows once the inviter confirms.
const EventFriendPending = node.EventFriendPending

// MaxInboxPage caps InboxPage's limit: 500.
const MaxInboxPage = 500

// LinkResult is what Link did.
type LinkResult struct {
	FriendID string
	// Pending: the inviter was offline, so the request waits in its
	// mailbox. The friend is stored (items sent now wait for it) and shows
	// "Pending":true in FriendsJSON until the inviter confirms
	// (EventFriendLinked then). false: the inviter confirmed already.
	Pending bool
}

// InboxPage returns, as a JSON array of node.InboxEntry (an Item plus Seq
// and Seen), up to limit inbox items that arrived after the one with Seq
// since, in arrival order; since 0 starts at the beginning, limit <= 0 or
// above MaxInboxPage means MaxInboxPage. Pass the last entry's Seq as
// since for the next page; "[]" means nothing newer.
func (m *Node) InboxPage(since int64, limit int) (page string, err error) {
	defer guard("InboxPage", &err)
	n, err := m.node("InboxPage")
	if err != nil {
		return "[]", err
	}
	if limit <= 0 || limit > MaxInboxPage {
		limit = MaxInboxPage
	}
	es, err := n.InboxPage(since, limit)
	if err != nil {
		return "[]", err
	}
	return toJSON(es), nil
}

// Item returns one inbox or outbox item as JSON (node.InboxEntry; Seq is
// 0 for outbox items).
func (m *Node) Item(id string) (item string, err error) {
	defer guard("Item", &err)
	n, err := m.node("Item")
	if err != nil {
		return "", err
	}
	e, err := n.Item(id)
	if err != nil {
		return "", err
	}
	return toJSON(e), nil
}

// DeleteItem removes an item from this device (see node.DeleteItem: a
// received item and its file; an offer is rejected first; an outbox item
// stops being delivered). An item still being received gives
// CodeBadArgument.
func (m *Node) DeleteItem(id string) error {
	return m.do("DeleteItem", func(n *node.Node) error { return n.DeleteItem(id) })
}

// MarkSeen records that the user saw an inbox item ("Seen":true).
func (m *Node) MarkSeen(id string) error {
	return m.do("MarkSeen", func(n *node.Node) error { return n.MarkSeen(id) })
}

// FriendJSON returns one friend as JSON (node.Friend: Precision is
// "close", "casual" or "off"; Pending as in LinkResult).
func (m *Node) FriendJSON(friendID string) (friend string, err error) {
	defer guard("FriendJSON", &err)
	n, err := m.node("FriendJSON")
	if err != nil {
		return "", err
	}
	f, err := n.Friend(friendID)
	if err != nil {
		return "", err
	}
	return toJSON(f), nil
}
