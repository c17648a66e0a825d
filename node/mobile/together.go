package mobile

import (
	"fmt"
	"time"
	_ "time/tzdata" // IANA names resolve on every platform (an app passes its zone's name)

	"github.com/imigee/imigee/node"
)

// Issue 10 in the facade: meetings, capture-time shares, the together
// policy's proposals, and the device's time zone.

// More event kinds.
const (
	// EventFriendWasNearby: a friend was nearby in the past, found after
	// the fact and confirmed by the friend (FriendID, From, To).
	EventFriendWasNearby = node.EventFriendWasNearby
	// EventShareProposed: a photo taken while FriendID was nearby could
	// be shared with them: ItemID is the proposal ID (AcceptProposal,
	// DismissProposal), Path the photo, From and To the meeting.
	EventShareProposed = node.EventShareProposed
)

// Share policy modes (the Mode of SetSharePolicyJSON).
const (
	ShareAsk      = node.ShareAsk
	ShareNearby   = node.ShareNearby
	SharePlaces   = node.SharePlaces
	ShareWindows  = node.ShareWindows
	ShareTogether = node.ShareTogether
)

// MeetingsJSON returns the meetings with friends that ended at or after
// since (unix seconds; 0: all kept, the history window) as a JSON array
// of {"FriendID","From","To","Kind"} (Kind "live" or "late"; times in
// unix seconds, never a place).
func (m *Node) MeetingsJSON(since int64) (s string) {
	s = "[]" // also after a recovered panic
	defer guardQuiet("MeetingsJSON")
	n, err := m.node("MeetingsJSON")
	if err != nil {
		return "[]"
	}
	ms := n.Meetings(since)
	if ms == nil {
		return "[]"
	}
	return toJSON(ms)
}

// SharePhotoTaken is SharePhoto with the capture time (unix seconds, from
// the photo's metadata), kept with the item and sent sealed to the
// friends. friendIDs is comma-separated; empty: the share policy decides
// (in "together" mode: the friends nearby at takenUnix).
func (m *Node) SharePhotoTaken(path string, takenUnix int64, friendIDs string) (id string, err error) {
	return call(m, "SharePhotoTaken", func(n *node.Node) (string, error) {
		return n.SharePhotoTaken(path, takenUnix, splitList(friendIDs))
	})
}

// ShareVideoTaken is SharePhotoTaken for a video.
func (m *Node) ShareVideoTaken(path string, takenUnix int64, friendIDs string) (id string, err error) {
	return call(m, "ShareVideoTaken", func(n *node.Node) (string, error) {
		return n.ShareVideoTaken(path, takenUnix, splitList(friendIDs))
	})
}

// SharePhotoTogether shares a photo with the friends that were nearby at
// its capture time, whatever the policy: the item ID of the share made
// now, or "" if nobody is known yet. The photo then waits (the history
// window, 7 days by default): a meeting at takenUnix found later shares it
// (auto) or raises EventShareProposed. The file must stay where it is.
func (m *Node) SharePhotoTogether(path string, takenUnix int64, auto bool) (id string, err error) {
	return call(m, "SharePhotoTogether", func(n *node.Node) (string, error) {
		return n.SharePhotoTogether(path, takenUnix, auto)
	})
}

// ShareVideoTogether is SharePhotoTogether for a video.
func (m *Node) ShareVideoTogether(path string, takenUnix int64, auto bool) (id string, err error) {
	return call(m, "ShareVideoTogether", func(n *node.Node) (string, error) {
		return n.ShareVideoTogether(path, takenUnix, auto)
	})
}

// ProposalsJSON returns the open share proposals as a JSON array of
// {"ID","FriendID","Path","Type","Taken","From","To"}.
func (m *Node) ProposalsJSON() (s string) {
	s = "[]"
	defer guardQuiet("ProposalsJSON")
	n, err := m.node("ProposalsJSON")
	if err != nil {
		return "[]"
	}
	ps := n.Proposals()
	if ps == nil {
		return "[]"
	}
	return toJSON(ps)
}

// AcceptProposal shares the proposed photo with the friend and returns
// the item ID; CodeUnknownProposal if the ID is not an open proposal.
func (m *Node) AcceptProposal(id string) (item string, err error) {
	return call(m, "AcceptProposal", func(n *node.Node) (string, error) { return n.AcceptProposal(id) })
}

// DismissProposal closes a proposal; the photo is not proposed to that
// friend again.
func (m *Node) DismissProposal(id string) error {
	return m.do("DismissProposal", func(n *node.Node) error { return n.DismissProposal(id) })
}

// SetTimeZone sets the device's zone by IANA name (e.g. "Asia/Tokyo"),
// in which share-policy windows are read; "" goes back to Config.TimeZone
// (or the process's local zone). Call it when the device's zone changes.
func (m *Node) SetTimeZone(name string) error {
	return m.do("SetTimeZone", func(n *node.Node) error {
		if name == "" {
			n.SetTimeZone(nil)
			return nil
		}
		loc, err := loadZone(name)
		if err != nil {
			return err
		}
		n.SetTimeZone(loc)
		return nil
	})
}

func loadZone(name string) (*time.Location, error) {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("mobile: time zone %q: %w", name, node.ErrBadArgument)
	}
	return loc, nil
}
