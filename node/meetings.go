package node

// Meetings (issue 10): every epoch in which a friend was confirmed nearby,
// live (a rendezvous match confirmed by Hello proofs, meet.go) or late
// (after the fact: a late announcement's match confirmed by the friend
// through the mailbox, late.go). The log lives in the encrypted local
// store (bucket localstore.Meetings), one record per friend and epoch,
// pruned with the history window and wiped by Forget. It holds times only,
// never a place: Meetings and friend_was_nearby carry friend, from and to
// (P4). Share policies read it through friendsTogetherAt (together.go).

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/imigee/imigee/node/localstore"
)

// EventFriendWasNearby: a friend was nearby in the past, learned after the
// fact (FriendID, From, To in unix seconds). Raised once the friend has
// confirmed it end to end, on both phones.
const EventFriendWasNearby = "friend_was_nearby"

// Meeting kinds.
const (
	// MeetingLive: both phones announced while it happened.
	MeetingLive = "live"
	// MeetingLate: found after the fact from a late announcement.
	MeetingLate = "late"
)

// Meeting is a time span in which a friend was nearby. From and To are
// unix seconds (To is the end of the last epoch).
type Meeting struct {
	FriendID string
	From, To int64
	Kind     string // MeetingLive or MeetingLate
}

// HistoryConfig configures the device's own history and late meetings.
type HistoryConfig struct {
	// Window is how long the device keeps its own cell history and its
	// meetings: DefaultHistoryWindow, at most MaxHistoryWindow (longer is
	// clamped). A negative value turns history off: no cells are kept and
	// nothing is announced late.
	Window time.Duration
}

const (
	// DefaultHistoryWindow: 7 days.
	DefaultHistoryWindow = 7 * 24 * time.Hour
	// MaxHistoryWindow: 30 days (the product promise).
	MaxHistoryWindow = 30 * 24 * time.Hour
)

func (c HistoryConfig) window() time.Duration {
	switch {
	case c.Window < 0:
		return 0
	case c.Window == 0:
		return DefaultHistoryWindow
	case c.Window > MaxHistoryWindow:
		return MaxHistoryWindow
	}
	return c.Window
}

// meetingRec is one friend's presence in one epoch.
type meetingRec struct {
	F string // friend ID
	E uint64 // epoch
	K string // kind
}

func meetingKey(friendID string, epoch uint64) string {
	return fmt.Sprintf("%s/%d", friendID, epoch)
}

// recordMeeting stores that friendID was nearby in epochs (kind live or
// late) and returns the epochs that were not known before. A live record
// is never downgraded to late.
func (n *Node) recordMeeting(friendID string, kind string, epochs []uint64) ([]uint64, error) {
	known := func(tx *localstore.Tx, e uint64) bool {
		b, err := tx.Get(localstore.Meetings, meetingKey(friendID, e))
		var old meetingRec
		return err == nil && json.Unmarshal(b, &old) == nil && (old.K == MeetingLive || old.K == kind)
	}
	// A friend confirmed nearby again in the same epoch (every match, every
	// LAN probe) is the common case: a read, not a write commit.
	news := false
	if err := n.store.View(func(tx *localstore.Tx) error {
		news = slices.ContainsFunc(epochs, func(e uint64) bool { return !known(tx, e) })
		return nil
	}); err != nil || !news {
		return nil, err
	}
	var fresh []uint64
	err := n.store.Update(func(tx *localstore.Tx) error {
		for _, e := range epochs {
			if known(tx, e) {
				continue
			}
			k := meetingKey(friendID, e)
			b, _ := json.Marshal(meetingRec{F: friendID, E: e, K: kind})
			if err := tx.Put(localstore.Meetings, k, b); err != nil {
				return err
			}
			fresh = append(fresh, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("node: record meeting: %w", err)
	}
	return fresh, nil
}

// noteMeeting records a meeting and tells whoever waits on meetings (the
// taken-while-together shares); kind late also raises friend_was_nearby
// for each new span.
func (n *Node) noteMeeting(friendID, kind string, epochs []uint64) {
	fresh, err := n.recordMeeting(friendID, kind, epochs)
	if err != nil {
		n.log.Warn("meeting not recorded", "err", err)
		return
	}
	for _, m := range n.spans(friendID, kind, fresh) {
		if kind == MeetingLate {
			n.emit(&Event{Kind: EventFriendWasNearby, FriendID: friendID, From: m.From, To: m.To})
		}
		n.meetingKnown(m)
	}
}

// spans folds epochs into contiguous meetings.
func (n *Node) spans(friendID, kind string, epochs []uint64) []Meeting {
	es := int64(n.cfg.EpochSeconds)
	epochs = slices.Clone(epochs)
	slices.Sort(epochs)
	var out []Meeting
	for _, e := range slices.Compact(epochs) {
		from := int64(e) * es
		if k := len(out) - 1; k >= 0 && out[k].To == from {
			out[k].To = from + es
			continue
		}
		out = append(out, Meeting{FriendID: friendID, From: from, To: from + es, Kind: kind})
	}
	return out
}

// Meetings lists meetings that ended at or after since (unix seconds),
// by friend then time; a span of live epochs and one of late epochs are
// separate meetings.
func (n *Node) Meetings(since int64) []Meeting {
	recs := n.meetingRecs()
	type fk struct{ f, k string }
	by := map[fk][]uint64{}
	for _, r := range recs {
		by[fk{r.F, r.K}] = append(by[fk{r.F, r.K}], r.E)
	}
	var out []Meeting
	for k, es := range by {
		for _, m := range n.spans(k.f, k.k, es) {
			if m.To >= since {
				out = append(out, m)
			}
		}
	}
	slices.SortFunc(out, func(a, b Meeting) int {
		return cmp.Or(cmp.Compare(a.FriendID, b.FriendID), cmp.Compare(a.From, b.From), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}

func (n *Node) meetingRecs() []meetingRec {
	var recs []meetingRec
	_ = n.store.ForEach(localstore.Meetings, func(v []byte) error {
		var r meetingRec
		if json.Unmarshal(v, &r) == nil {
			recs = append(recs, r)
		}
		return nil
	})
	return recs
}

// friendsTogetherAt returns the linked friends (sorted IDs) that were
// nearby, live or late, in the epoch containing t: one lookup per friend,
// not a read of the whole log (a share must not cost more as the log
// grows).
func (n *Node) friendsTogetherAt(t time.Time) []string {
	e := uint64(t.Unix()) / uint64(n.cfg.EpochSeconds)
	fs := n.friendList() // in friend ID order
	var out []string
	_ = n.store.View(func(tx *localstore.Tx) error {
		for _, f := range fs {
			if tx.Has(localstore.Meetings, meetingKey(f.id, e)) {
				out = append(out, f.id)
			}
		}
		return nil
	})
	return out
}

// pruneMeetings drops meeting records older than the history window and
// those of friends no longer linked.
func (n *Node) pruneMeetings() {
	w := n.cfg.History.window()
	cut := uint64(n.cfg.Now().Add(-max(w, DefaultHistoryWindow)).Unix()) / uint64(n.cfg.EpochSeconds)
	linked := map[string]bool{}
	for _, f := range n.friendList() {
		linked[f.id] = true
	}
	var drop []string
	for _, r := range n.meetingRecs() {
		if r.E < cut || !linked[r.F] {
			drop = append(drop, meetingKey(r.F, r.E))
		}
	}
	if len(drop) == 0 {
		return
	}
	_ = n.store.Update(func(tx *localstore.Tx) error {
		for _, k := range drop {
			if err := tx.Delete(localstore.Meetings, k); err != nil {
				return err
			}
		}
		return nil
	})
}
