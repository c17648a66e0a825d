package node

// Sharing what was taken together (issue 10): items with a capture time,
// the "taken while together" share policy, and proposing or auto-sharing
// photos once a meeting covering their capture time becomes known (live or
// late). meetings.go calls meetingKnown for every new meeting span.
//
// A photo shared in together mode without recipients goes at once to the
// friends already known to have been nearby at its capture time, and is
// kept waiting (a takenRec in bucket localstore.Together: its path, type,
// capture time, and per friend what was done) for the history window, so a
// meeting found later — typically a late one, after the phone got its
// reception back — still reaches it: with Auto it is shared with that
// friend, else it is proposed (EventShareProposed) until AcceptProposal or
// DismissProposal. The record is the exactly-once ledger: a friend is
// written into it in the same store commit as the outbox item shared with
// them (or the proposal), so neither a second meeting span, a restart nor
// a crash between the two shares a photo twice with one friend. A restart
// also catches up (catchUpTogether): a meeting recorded just before a
// crash, whose meetingKnown never ran, is found from the meetings log.
//
// Only the path is kept, never the content: a photo deleted or changed
// before the meeting is known is not shared (AcceptProposal says why; an
// auto share is skipped with a log line). Proposals and events carry times
// only (the capture time, the meeting span), never a place (P4).

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imigee/imigee/node/localstore"
)

// EventShareProposed: a photo taken while FriendID was nearby (a meeting
// that became known after the photo was shared in together mode) could be
// shared with them. ItemID is the proposal ID (AcceptProposal,
// DismissProposal), Path the photo, Type photo or video, From and To the
// meeting in unix seconds. Raised once per photo and friend.
const EventShareProposed = "share_proposed"

// Limits of the together shares.
const (
	// MaxTogetherWaiting caps the photos kept waiting for meetings: 1000
	// (a record is ~200 bytes). At the cap the photo with the oldest
	// capture time is dropped (counted in TogetherStats.Dropped).
	MaxTogetherWaiting = 1000
	// MaxTakenSkew is how far in the future a capture time may be (a
	// camera clock ahead of the phone's): 24 h. Later is ErrBadArgument
	// when shared and "unknown" (0) when received.
	MaxTakenSkew = 24 * time.Hour
)

// ErrUnknownProposal: no open proposal with that ID (accepted, dismissed,
// expired with the history window, or never made).
var ErrUnknownProposal = errors.New("node: unknown proposal")

// Proposal is a share the node suggests: the photo at Path, taken (Taken,
// unix seconds) while FriendID was nearby (From..To).
type Proposal struct {
	ID       string
	FriendID string
	Path     string
	Type     string
	Taken    int64
	From, To int64
}

// TogetherStats counts the together shares' work since New.
type TogetherStats struct {
	// Waiting is how many photos wait for meetings now.
	Waiting int
	// Dropped counts photos dropped before their history window ended
	// because MaxTogetherWaiting was reached.
	Dropped int64
}

// togetherState is the Node's together-share state.
type togetherState struct {
	// mu serialises every read-modify-write of bucket Together with the
	// reading of the meetings log that decides it, so a meeting recorded
	// while a photo is being registered reaches it exactly once. Held
	// across store commits, never across network I/O.
	mu      sync.Mutex
	dropped atomic.Int64
	// busy counts meetingKnown hand-offs still running (tests wait on it).
	busy sync.WaitGroup
	// max is MaxTogetherWaiting when 0; tests lower it.
	max int

	// recs are the waiting records as offerMeeting last read them, and
	// recsVer the Together bucket's version before that read: while it is
	// unchanged, and no record has aged out (recsMin), a meeting looks
	// through them instead of reading and decoding every record again
	// (up to MaxTogetherWaiting per meeting; BenchmarkMeetingKnownFullWaiting).
	// Guarded by mu; offerMeeting drops them when it acts on one, since
	// offerTaken changes records in place.
	recs    []*takenRec
	recsVer uint64
	recsMin int64
	recsOK  bool
}

// Per-friend states of a takenRec.
const (
	tShared    = "shared"
	tProposed  = "proposed"
	tDismissed = "dismissed"
	tMissing   = "missing" // auto share found the file gone
)

// takenRec is one photo waiting for meetings at its capture time.
type takenRec struct {
	ID    string // record name
	Type  string
	Path  string
	Taken int64
	Auto  bool
	F     map[string]*takenFriend
}

// takenFriend is what was done with a takenRec for one friend.
type takenFriend struct {
	S        string // tShared, tProposed, tDismissed, tMissing
	Item     string `json:",omitempty"` // outbox item, once shared
	P        string `json:",omitempty"` // proposal ID
	From, To int64  `json:",omitempty"` // the meeting (proposals)
}

func takenValid(t int64, now time.Time) bool {
	return t > 0 && t <= now.Add(MaxTakenSkew).Unix()
}

// SharePhotoTaken is SharePhoto with the photo's capture time (unix
// seconds, from the camera's metadata; 0 < takenUnix <= now + MaxTakenSkew).
// The time is kept with the outbox item and sent inside the sealed offer
// (Item.Taken on the friend's side). With no friendIDs the share policy
// picks the recipients; in ShareTogether mode those are the friends nearby
// at takenUnix, and the photo then waits for meetings found later (see
// SharePhotoTogether).
func (n *Node) SharePhotoTaken(path string, takenUnix int64, friendIDs []string) (string, error) {
	return n.shareTaken(TypePhoto, path, takenUnix, friendIDs)
}

// ShareVideoTaken is SharePhotoTaken for a video.
func (n *Node) ShareVideoTaken(path string, takenUnix int64, friendIDs []string) (string, error) {
	return n.shareTaken(TypeVideo, path, takenUnix, friendIDs)
}

func (n *Node) shareTaken(typ, path string, taken int64, friendIDs []string) (string, error) {
	if !takenValid(taken, n.cfg.Now()) {
		return "", fmt.Errorf("node: share: capture time: %w", ErrBadArgument)
	}
	if len(friendIDs) == 0 {
		if p := n.sharePolicy(); p.Mode == ShareTogether {
			return n.shareTogether(typ, path, taken, p.Auto)
		}
	}
	return n.shareFileTaken(typ, path, taken, friendIDs)
}

// SharePhotoTogether shares the photo taken at takenUnix with every friend
// that was nearby then (live or found after the fact), whatever the share
// policy. It returns the item ID of the share made now, or "" when no such
// friend is known yet. Either way, while takenUnix is inside the history
// window (Config.History, default 7 days) the photo waits: a meeting
// covering takenUnix that becomes known later shares it with that friend
// (auto) or raises EventShareProposed (not auto). Each friend gets it at
// most once, across restarts. Outside the window with nobody known it is
// ErrNoRecipients. The file must stay until then: only its path is kept.
// Sharing the same photo again (same path and capture time) shares it
// only with friends it has not reached yet.
func (n *Node) SharePhotoTogether(path string, takenUnix int64, auto bool) (string, error) {
	return n.shareTogether(TypePhoto, path, takenUnix, auto)
}

// ShareVideoTogether is SharePhotoTogether for a video.
func (n *Node) ShareVideoTogether(path string, takenUnix int64, auto bool) (string, error) {
	return n.shareTogether(TypeVideo, path, takenUnix, auto)
}

func (n *Node) shareTogether(typ, path string, taken int64, auto bool) (string, error) {
	now := n.cfg.Now()
	if !takenValid(taken, now) {
		return "", fmt.Errorf("node: share: capture time: %w", ErrBadArgument)
	}
	st, err := statShareable(path)
	if err != nil {
		return "", err
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs // kept for later: the working directory may change
	}
	n.tg.mu.Lock()
	defer n.tg.mu.Unlock()
	// The same photo shared again (an app that re-syncs its gallery) is
	// the same record: friends it already reached are not shared again.
	var rec *takenRec
	raised := false // a known record turned auto: it must be stored again
	waiting := n.waitingRecs()
	for _, r := range waiting {
		if r.Path == path && r.Taken == taken && r.Type == typ {
			rec = r
			raised = auto && !rec.Auto
			rec.Auto = rec.Auto || auto
			break
		}
	}
	var to []string
	for _, f := range n.friendsTogetherAt(time.Unix(taken, 0)) {
		if _, err := n.friend(f); err == nil && (rec == nil || rec.F[f] == nil) {
			to = append(to, f)
		}
	}
	known := rec != nil
	keep := taken >= now.Add(-n.togetherKeep()).Unix()
	if !keep && len(to) == 0 {
		return "", ErrNoRecipients
	}
	if !known {
		id, _ := newItemID()
		rec = &takenRec{ID: id, Type: typ, Path: path, Taken: taken, Auto: auto, F: map[string]*takenFriend{}}
	}
	put := func(tx *localstore.Tx) (int, error) {
		if known {
			return 0, tx.Put(localstore.Together, rec.ID, encodeTaken(rec))
		}
		return n.putTakenCapped(tx, rec, waiting)
	}
	if len(to) == 0 {
		if known && !raised {
			// Nothing new to share or store: a gallery re-sync of N
			// photos must not cost N write commits.
			return "", nil
		}
		var dropped int
		err := n.store.Update(func(tx *localstore.Tx) error {
			var err error
			dropped, err = put(tx)
			return err
		})
		if err != nil {
			return "", fmt.Errorf("node: together: %w", err)
		}
		n.countDropped(dropped)
		return "", nil
	}
	var dropped int
	item, err := n.shareSource(typ, filepath.Base(path), path, st.Size(), taken, to, fileSource(path), func(tx *localstore.Tx, itemID string) error {
		for _, f := range to {
			rec.F[f] = &takenFriend{S: tShared, Item: itemID}
		}
		if !keep {
			return nil
		}
		var err error
		dropped, err = put(tx)
		return err
	})
	if err == nil {
		n.countDropped(dropped)
	}
	return item, err
}

// meetingKnown is called (outside any lock) for every newly recorded
// meeting span, live or late: photos waiting with a capture time inside
// it are shared with (auto) or proposed to the friend. The work (a store
// commit per photo) runs on a node goroutine, not on the caller's: a
// match confirmation or a claim handler must not wait for hundreds of
// concert photos. A crash before it ends is caught up at the next New.
func (n *Node) meetingKnown(m Meeting) {
	n.tg.busy.Add(1)
	n.mu.Lock()
	closed := n.closed
	if !closed {
		n.wg.Add(1)
	}
	n.mu.Unlock()
	if closed {
		n.tg.busy.Done()
		return
	}
	go func() {
		defer n.wg.Done()
		defer n.tg.busy.Done()
		n.offerMeeting(m)
	}()
}

// offerMeeting is meetingKnown's work.
func (n *Node) offerMeeting(m Meeting) {
	n.tg.mu.Lock()
	defer n.tg.mu.Unlock()
	if _, err := n.friend(m.FriendID); err != nil {
		return
	}
	for _, rec := range n.waitingForMeeting() {
		if rec.Taken >= m.From && rec.Taken < m.To && rec.F[m.FriendID] == nil {
			n.tg.recsOK = false
			n.offerTaken(rec, m.FriendID, m.From, m.To)
		}
	}
}

// waitingForMeeting is waitingRecs, kept from the last meeting while nothing
// wrote the bucket and nothing aged out. n.tg.mu is held.
func (n *Node) waitingForMeeting() []*takenRec {
	ver := n.store.Version(localstore.Together) // before the read: a write after it shows
	if n.tg.recsOK && n.tg.recsVer == ver && n.tg.recsMin >= n.cfg.Now().Add(-n.togetherKeep()).Unix() {
		return n.tg.recs
	}
	recs := n.waitingRecs()
	n.tg.recs, n.tg.recsVer, n.tg.recsMin, n.tg.recsOK = recs, ver, math.MaxInt64, true
	for _, r := range recs {
		n.tg.recsMin = min(n.tg.recsMin, r.Taken)
	}
	return recs
}

// catchUpTogether (at New) offers waiting photos to the friends whose
// meeting at the capture time is in the meetings log but was never acted
// on (a crash between recording the meeting and meetingKnown).
func (n *Node) catchUpTogether() {
	n.tg.mu.Lock()
	defer n.tg.mu.Unlock()
	recs := n.waitingRecs()
	if len(recs) == 0 {
		return
	}
	meetings := n.Meetings(0)
	for _, rec := range recs {
		for _, m := range meetings {
			if rec.Taken < m.From || rec.Taken >= m.To || rec.F[m.FriendID] != nil {
				continue
			}
			if _, err := n.friend(m.FriendID); err != nil {
				continue
			}
			n.offerTaken(rec, m.FriendID, m.From, m.To)
		}
	}
}

// offerTaken shares rec with friendID (auto) or proposes it. n.tg.mu is
// held.
func (n *Node) offerTaken(rec *takenRec, friendID string, from, to int64) {
	if rec.Auto {
		if _, err := n.shareTakenWith(rec, friendID, &takenFriend{From: from, To: to}); err != nil {
			n.log.Warn("together: auto share skipped", "err", err)
		}
		return
	}
	pid, _ := newItemID()
	rec.F[friendID] = &takenFriend{S: tProposed, P: pid, From: from, To: to}
	if err := n.store.Put(localstore.Together, rec.ID, encodeTaken(rec)); err != nil {
		n.log.Warn("together: proposal not stored", "err", err)
		return
	}
	n.emit(&Event{Kind: EventShareProposed, FriendID: friendID, ItemID: pid, Path: rec.Path, Type: rec.Type, From: from, To: to})
}

// shareTakenWith shares rec's file with friendID and records it in rec in
// the same commit. A file that is gone is recorded as such (tMissing) for
// an auto share, so it is not tried again. n.tg.mu is held.
func (n *Node) shareTakenWith(rec *takenRec, friendID string, tf *takenFriend) (string, error) {
	st, err := statShareable(rec.Path)
	if err != nil {
		if rec.Auto && tf.S == "" {
			rec.F[friendID] = &takenFriend{S: tMissing, From: tf.From, To: tf.To}
			_ = n.store.Put(localstore.Together, rec.ID, encodeTaken(rec))
		}
		return "", fmt.Errorf("node: together share: %w", err)
	}
	return n.shareSource(rec.Type, filepath.Base(rec.Path), rec.Path, st.Size(), rec.Taken, []string{friendID}, fileSource(rec.Path),
		func(tx *localstore.Tx, itemID string) error {
			rec.F[friendID] = &takenFriend{S: tShared, Item: itemID, P: tf.P, From: tf.From, To: tf.To}
			return tx.Put(localstore.Together, rec.ID, encodeTaken(rec))
		})
}

// Proposals lists the open proposals, by capture time.
func (n *Node) Proposals() []Proposal {
	n.tg.mu.Lock()
	defer n.tg.mu.Unlock()
	var out []Proposal
	for _, rec := range n.waitingRecs() {
		for f, tf := range rec.F {
			if _, err := n.friend(f); err != nil {
				continue // unfriended since
			}
			if tf.S == tProposed {
				out = append(out, Proposal{ID: tf.P, FriendID: f, Path: rec.Path, Type: rec.Type, Taken: rec.Taken, From: tf.From, To: tf.To})
			}
		}
	}
	slices.SortFunc(out, func(a, b Proposal) int {
		return cmp.Or(cmp.Compare(a.Taken, b.Taken), cmp.Compare(a.FriendID, b.FriendID))
	})
	return out
}

// AcceptProposal shares the proposed photo with the friend and returns the
// outbox item ID; ErrUnknownProposal if id is not an open proposal. If the
// file is gone the error says so and the proposal stays open.
func (n *Node) AcceptProposal(id string) (string, error) {
	n.tg.mu.Lock()
	defer n.tg.mu.Unlock()
	rec, f, tf := n.findProposal(id)
	if rec == nil {
		return "", ErrUnknownProposal
	}
	if _, err := n.friend(f); err != nil {
		return "", err
	}
	return n.shareTakenWith(rec, f, tf)
}

// DismissProposal closes a proposal without sharing; the photo is not
// proposed to that friend again.
func (n *Node) DismissProposal(id string) error {
	n.tg.mu.Lock()
	defer n.tg.mu.Unlock()
	rec, _, tf := n.findProposal(id)
	if rec == nil {
		return ErrUnknownProposal
	}
	tf.S = tDismissed
	if err := n.store.Put(localstore.Together, rec.ID, encodeTaken(rec)); err != nil {
		return fmt.Errorf("node: dismiss proposal: %w", err)
	}
	return nil
}

func (n *Node) findProposal(id string) (*takenRec, string, *takenFriend) {
	if id == "" {
		return nil, "", nil
	}
	for _, rec := range n.takenRecs() {
		for f, tf := range rec.F {
			if tf.S == tProposed && tf.P == id {
				return rec, f, tf
			}
		}
	}
	return nil, "", nil
}

// TogetherStats reports the photos waiting for meetings and the drops.
func (n *Node) TogetherStats() TogetherStats {
	return TogetherStats{Waiting: n.store.Count(localstore.Together), Dropped: n.tg.dropped.Load()}
}

// togetherKeep is how long a photo waits for meetings: the history window
// (its default when history is off: live meetings still come).
func (n *Node) togetherKeep() time.Duration {
	if w := n.cfg.History.window(); w > 0 {
		return w
	}
	return DefaultHistoryWindow
}

func encodeTaken(r *takenRec) []byte {
	b, _ := json.Marshal(r)
	return b
}

func (n *Node) takenRecs() []*takenRec {
	var out []*takenRec
	_ = n.store.ForEach(localstore.Together, func(v []byte) error {
		var r takenRec
		if json.Unmarshal(v, &r) == nil && r.ID != "" {
			if r.F == nil {
				r.F = map[string]*takenFriend{}
			}
			out = append(out, &r)
		}
		return nil
	})
	return out
}

// putTakenCapped stores rec, keeping at most MaxTogetherWaiting records:
// those with the oldest capture times go (rec itself if it is the
// oldest). waiting is the bucket as the caller read it (waitingRecs):
// n.tg.mu is held, so nothing else changed it since. It returns how many
// were dropped.
func (n *Node) putTakenCapped(tx *localstore.Tx, rec *takenRec, waiting []*takenRec) (int, error) {
	recs := make([]takenRec, 0, len(waiting)+1)
	for _, r := range waiting {
		recs = append(recs, takenRec{ID: r.ID, Taken: r.Taken})
	}
	limit := MaxTogetherWaiting
	if n.tg.max > 0 {
		limit = n.tg.max
	}
	// The new record competes too: if it is the oldest it is the one
	// not kept.
	recs = append(recs, takenRec{ID: rec.ID, Taken: rec.Taken})
	dropped, keepNew := 0, true
	if over := len(recs) - limit; over > 0 {
		slices.SortStableFunc(recs, func(a, b takenRec) int { return cmp.Compare(a.Taken, b.Taken) })
		for _, r := range recs[:over] {
			dropped++
			if r.ID == rec.ID {
				keepNew = false
				continue
			}
			if err := tx.Delete(localstore.Together, r.ID); err != nil {
				return 0, err
			}
		}
	}
	if !keepNew {
		return dropped, nil
	}
	return dropped, tx.Put(localstore.Together, rec.ID, encodeTaken(rec))
}

func (n *Node) countDropped(k int) {
	if k > 0 {
		n.tg.dropped.Add(int64(k))
		n.log.Warn("together: waiting photos dropped at the cap", "count", k)
	}
}

// waitingRecs returns the waiting photos, having dropped (from the store
// too) those whose capture time left the history window: one read of the
// bucket. n.tg.mu is held.
func (n *Node) waitingRecs() []*takenRec {
	cut := n.cfg.Now().Add(-n.togetherKeep()).Unix()
	var drop []string
	recs := slices.DeleteFunc(n.takenRecs(), func(r *takenRec) bool {
		if r.Taken < cut {
			drop = append(drop, r.ID)
			return true
		}
		return false
	})
	if len(drop) == 0 {
		return recs
	}
	_ = n.store.Update(func(tx *localstore.Tx) error {
		for _, id := range drop {
			if err := tx.Delete(localstore.Together, id); err != nil {
				return err
			}
		}
		return nil
	})
	return recs
}
