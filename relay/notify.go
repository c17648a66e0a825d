package relay

import (
	"sync"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol/pb"
)

// subscriber is one subscribed mailbox stream. The put path sends into ch
// without blocking; the stream's pusher goroutine drains it.
type subscriber struct {
	ch chan *pb.Notify
}

// hub routes new-blob notifications to subscribers. The put path holds only
// a read lock and never blocks on a subscriber: a full queue drops the
// notification and counts it (the client lists on reconnect anyway).
type hub struct {
	mu   sync.RWMutex // guards subs
	subs map[crypto.MailboxID]map[*subscriber]struct{}
	// dropped is called (outside no lock in particular) for each drop.
	dropped func()
	sent    func()
}

func newHub(dropped, sent func()) *hub {
	return &hub{subs: make(map[crypto.MailboxID]map[*subscriber]struct{}), dropped: dropped, sent: sent}
}

// add subscribes s to mboxes.
func (h *hub) add(s *subscriber, mboxes []crypto.MailboxID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range mboxes {
		set := h.subs[m]
		if set == nil {
			set = make(map[*subscriber]struct{})
			h.subs[m] = set
		}
		set[s] = struct{}{}
	}
}

// remove unsubscribes s from mboxes.
func (h *hub) remove(s *subscriber, mboxes []crypto.MailboxID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range mboxes {
		set := h.subs[m]
		delete(set, s)
		if len(set) == 0 {
			delete(h.subs, m)
		}
	}
}

// notify offers n to every subscriber of mbox without blocking.
func (h *hub) notify(mbox crypto.MailboxID, n *pb.Notify) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs[mbox] {
		select {
		case s.ch <- n:
			h.sent()
		default:
			h.dropped()
		}
	}
}

// len returns the number of subscribed mailboxes (for tests).
func (h *hub) len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}
