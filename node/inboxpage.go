package node

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/imigee/imigee/node/localstore"
)

// The data API over the inbox: pages in local arrival order, one item,
// delete, mark seen. Each inbox item (offered, receiving, received,
// rejected) gets a local sequence number the first time a page sees it,
// in (Created, ID) order among those seen together; the number never
// changes, so "since" paging finds every item that arrived after the last
// page, whatever time its sender stamped on it. State changes of an item
// already paged (offered → received) come by events; Item(id) reads it
// again. The marks live in the Meta bucket (never scanned), one record
// per item.

// inboxMark is the app-side state of one inbox item.
type inboxMark struct {
	Seq     int64
	Seen    bool `json:",omitempty"`
	Deleted bool `json:",omitempty"` // a rejected offer the app deleted
}

const (
	inboxSeqName  = "inboxseq" // Meta: the last sequence number given
	inboxMarkPref = "inboxmark:"
)

// InboxEntry is an inbox item with its place in the local arrival order
// and whether the app marked it seen.
type InboxEntry struct {
	Item
	// Seq is the local arrival order (1, 2, ...): pass the last Seq of a
	// page as since to get the next one. 0 on outbox items (Item).
	Seq  int64
	Seen bool
}

// InboxPage returns up to limit inbox items with Seq > since, in Seq order
// (limit <= 0: all). An empty page means nothing newer.
func (n *Node) InboxPage(since int64, limit int) ([]InboxEntry, error) {
	if since < 0 {
		return nil, fmt.Errorf("node: inbox page since %d: %w", since, ErrBadArgument)
	}
	items := n.Inbox()
	marks, err := n.inboxMarks(items)
	if err != nil {
		return nil, err
	}
	out := []InboxEntry{}
	for _, it := range items {
		m := marks[it.ID]
		if m.Deleted || m.Seq <= since {
			continue
		}
		out = append(out, InboxEntry{Item: it, Seq: m.Seq, Seen: m.Seen})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// inboxMarks returns the mark of every item, giving new ones the next
// sequence numbers in one transaction.
func (n *Node) inboxMarks(items []Item) (map[string]inboxMark, error) {
	marks := make(map[string]inboxMark, len(items))
	sorted := append([]Item(nil), items...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Created != sorted[j].Created {
			return sorted[i].Created < sorted[j].Created
		}
		return sorted[i].ID < sorted[j].ID
	})
	read := func(tx *localstore.Tx) (missing bool) {
		for _, it := range sorted {
			b, err := tx.Get(localstore.Meta, inboxMarkPref+it.ID)
			var m inboxMark
			if err != nil || json.Unmarshal(b, &m) != nil || m.Seq == 0 {
				missing = true
				continue
			}
			marks[it.ID] = m
		}
		return missing
	}
	missing := false
	if err := n.store.View(func(tx *localstore.Tx) error { missing = read(tx); return nil }); err != nil {
		return nil, fmt.Errorf("node: inbox marks: %w", err)
	}
	if !missing {
		return marks, nil
	}
	err := n.store.Update(func(tx *localstore.Tx) error {
		clear(marks)
		read(tx) // again: another page may have numbered them meanwhile
		var seq int64
		if b, err := tx.Get(localstore.Meta, inboxSeqName); err == nil && len(b) == 8 {
			seq = int64(binary.BigEndian.Uint64(b))
		}
		for _, it := range sorted {
			if _, ok := marks[it.ID]; ok {
				continue
			}
			seq++
			m := inboxMark{Seq: seq}
			b, _ := json.Marshal(m)
			if err := tx.Put(localstore.Meta, inboxMarkPref+it.ID, b); err != nil {
				return err
			}
			marks[it.ID] = m
		}
		return tx.Put(localstore.Meta, inboxSeqName, binary.BigEndian.AppendUint64(nil, uint64(seq)))
	})
	if err != nil {
		return nil, fmt.Errorf("node: inbox marks: %w", err)
	}
	return marks, nil
}

// Item returns one item: an inbox item (with its Seq and Seen) or an
// outbox item (Seq 0). ErrUnknownItem if there is none (or it was
// deleted).
func (n *Node) Item(id string) (InboxEntry, error) {
	for _, it := range n.Inbox() {
		if it.ID != id {
			continue
		}
		marks, err := n.inboxMarks([]Item{it})
		if err != nil {
			return InboxEntry{}, err
		}
		m := marks[id]
		if m.Deleted {
			break
		}
		return InboxEntry{Item: it, Seq: m.Seq, Seen: m.Seen}, nil
	}
	for _, it := range n.Pending() {
		if it.ID == id {
			return InboxEntry{Item: it}, nil
		}
	}
	return InboxEntry{}, ErrUnknownItem
}

// MarkSeen records that the user saw an inbox item (InboxEntry.Seen).
func (n *Node) MarkSeen(id string) error {
	e, err := n.Item(id)
	if err != nil {
		return err
	}
	if e.Seq == 0 {
		return fmt.Errorf("node: mark seen: not an inbox item: %w", ErrUnknownItem)
	}
	return n.setMark(id, func(m *inboxMark) { m.Seen = true })
}

func (n *Node) setMark(id string, fn func(m *inboxMark)) error {
	return n.store.Update(func(tx *localstore.Tx) error {
		var m inboxMark
		if b, err := tx.Get(localstore.Meta, inboxMarkPref+id); err == nil {
			_ = json.Unmarshal(b, &m)
		}
		fn(&m)
		b, _ := json.Marshal(m)
		return tx.Put(localstore.Meta, inboxMarkPref+id, b)
	})
}

// DeleteItem removes an item from this device:
//   - a received item: its record and its file (the seen mark stays, so
//     it is never delivered again);
//   - an offered item: rejected (the sender learns it, as with Reject),
//     then hidden;
//   - a rejected offer: hidden;
//   - an outbox item: its record and the pending sealed copy; recipients
//     that did not get it yet never will (a copy already at a friend's
//     relay expires there within the retention window).
//
// An item still being received cannot be deleted (ErrBadArgument): it
// becomes deletable once it completes.
func (n *Node) DeleteItem(id string) error {
	e, err := n.Item(id)
	if err != nil {
		return err
	}
	if e.Seq == 0 { // outbox
		it, err := n.getOut(id)
		if err != nil {
			return ErrUnknownItem
		}
		if err := n.store.Delete(localstore.Outbox, id); err != nil {
			return fmt.Errorf("node: delete item: %w", err)
		}
		if it.Sealed != "" {
			_ = os.Remove(it.Sealed)
		}
		return nil
	}
	switch e.State {
	case StateReceiving:
		return fmt.Errorf("node: delete item: still being received: %w", ErrBadArgument)
	case StateOffered:
		if err := n.Reject(id); err != nil {
			return err
		}
		return n.setMark(id, func(m *inboxMark) { m.Deleted = true })
	case StateRejected:
		return n.setMark(id, func(m *inboxMark) { m.Deleted = true })
	}
	err = n.store.Update(func(tx *localstore.Tx) error {
		if err := tx.Delete(localstore.Inbox, id); err != nil {
			return err
		}
		return tx.Delete(localstore.Meta, inboxMarkPref+id)
	})
	if err != nil {
		return fmt.Errorf("node: delete item: %w", err)
	}
	// Only files the node wrote into its media directory are removed.
	if e.Path != "" && strings.HasPrefix(filepath.Clean(e.Path), filepath.Clean(n.media)+string(filepath.Separator)) {
		_ = os.Remove(e.Path)
	}
	return nil
}
