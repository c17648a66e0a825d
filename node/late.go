package node

// Late meetings (issue 10): epochs in which the device would have
// announced but had no relay (no reception, relay down) are announced
// late when a relay is back, from the device's own history (history.go),
// and matched by the relay against its history of past announcements.
//
// Each hour of late epochs goes on a one-off transport identity of its
// own (P12: a relay links no more of a day than it could from live
// announcements, whose identity rotates about hourly). A match from the
// relay is not believed: the late phone opens the friend's record (so the
// friend made it, for that epoch) and sends the friend a claim, a small
// sealed item (TypeMeet) listing the epochs and its matched tokens. The
// friend checks every token against its own history, recomputing its
// tokens for that epoch; the epochs that hold become a late meeting there
// (friend_was_nearby) and go back in a confirm item; the late phone raises
// friend_was_nearby only for confirmed epochs. The relay learns no more
// than for a live match; the claim and confirm travel like messages
// (direct, or sealed in the friend's mailbox).

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/localstore"
	"github.com/imigee/imigee/node/relayclient"
	proto "github.com/imigee/imigee/protocol"
)

// TypeMeet is an internal outbox item carrying a late-meeting claim or
// confirm to one friend; it never appears in Pending, Inbox or events.
const TypeMeet = "meet"

// maxMeetEpochs caps the epochs of one claim or confirm item: 128.
const maxMeetEpochs = 128

// Waits before late announcements are tried again after a failure
// (relay unreachable, rate limited, full): 5 s doubling to 10 min.
const (
	lateRetryMin = 5 * time.Second
	lateRetryMax = 10 * time.Minute
)

// lateSettle is how long a late round keeps its rendezvous sessions open
// before it announces everything once more on them: 30 s (the relay's
// idle timeout is 2 min). Two friends who regain reception together (a
// crowd leaving a site without it) each announce late to their own relay
// before the relays' gossip (a batch every 250 ms) has carried the
// other's announcement into that relay's history, so both first matches
// find nothing, and an entry stored is never matched again by a later
// arrival: the meeting was lost (the festival example's pair 16/21,
// TestSimLateTogether). Announced again on the same session, the relay
// stores nothing new (it names entries by session) and matches only other
// sessions' entries, never the phone's own first announcement; by then
// the other's gossip has arrived, so one side finds the meeting. It
// costs the relay one more walk of those epochs and links nothing new.
const lateSettle = 30 * time.Second

// meetMsg is the payload of a TypeMeet item.
type meetMsg struct {
	K string      // "claim" or "confirm"
	E []meetEpoch // at most maxMeetEpochs
}

// meetEpoch is one epoch of a claim: the claimant's token that matched
// and whether it was its here token. A confirm carries epochs only.
type meetEpoch struct {
	E uint64
	T string `json:",omitempty"` // hex token
	H bool   `json:",omitempty"`
}

// internalType reports whether an outbox item type is the node's own
// traffic (never shown in Pending, Inbox or events).
func internalType(t string) bool { return t == TypeProfile || t == TypeMeet }

// lateDue returns the history epochs to announce late: inside the window,
// before the current epoch, neither acknowledged live nor done late.
func (n *Node) lateDue() []historyRec {
	if !n.historyOn() {
		return nil
	}
	cur, cut := n.epochNow(), n.historyCutEpoch()
	var due []historyRec
	// Only epochs not known settled are opened (historyidx.go); a record
	// found settled after all (the index read before its update) is
	// simply skipped.
	for _, e := range unsettledEpochs(n.historyIndex(), cut, cur) {
		if r, ok := n.historyAt(e); ok && !r.Live && !r.Late && len(r.S) > 0 {
			due = append(due, r)
		}
	}
	return due
}

// lateTick starts late announcements at relay rc if some are due and none
// run.
//
// The history is read only when something may have become due: a new
// epoch (the one before it may be unannounced), a record of a past epoch
// added (recordCells), a relay attached, or a failed round. Reading it on
// every tick cost a share of CPU that grew with the history.
func (n *Node) lateTick(rc *relayConn) {
	cur := n.epochNow()
	n.mu.Lock()
	if n.lateRunning || time.Now().Before(n.lateRetryAt) || (n.lateChecked == cur && n.lateRelay == rc.ai.ID && !n.lateDirty) {
		n.mu.Unlock()
		return
	}
	n.lateChecked, n.lateRelay, n.lateDirty = cur, rc.ai.ID, false
	n.mu.Unlock()
	due := n.lateDue()
	if len(due) == 0 {
		return
	}
	n.mu.Lock()
	if n.lateRunning {
		n.mu.Unlock()
		return
	}
	n.lateRunning = true
	n.mu.Unlock()
	n.spawn(func(ctx context.Context) {
		failed := false
		defer func() {
			n.mu.Lock()
			n.lateRunning = false
			// Real time: it paces network attempts (a relay refusing, or
			// unreachable), doubling up to lateRetryMax.
			if failed {
				n.lateRetryWait = min(max(2*n.lateRetryWait, lateRetryMin), lateRetryMax)
				n.lateRetryAt = time.Now().Add(n.lateRetryWait)
				n.lateDirty = true
			} else {
				n.lateRetryWait, n.lateRetryAt = 0, time.Time{}
			}
			n.mu.Unlock()
		}()
		// The claims of the whole round go out together, one item per
		// friend (up to maxMeetEpochs epochs), so a long meeting is
		// confirmed, and raised, as one span rather than one per hour.
		claims := map[*friend][]meetEpoch{}
		var open []*lateSession
		defer func() {
			for _, ls := range open {
				ls.close()
			}
		}()
		es := uint64(n.cfg.EpochSeconds)
		for len(due) > 0 {
			hour := due[0].E * es / 3600
			k := 1
			for k < len(due) && due[k].E*es/3600 == hour {
				k++
			}
			ls, err := n.lateGroup(ctx, rc, due[:k], claims)
			if err != nil {
				n.log.Debug("late announcement failed; retrying later", "err", err)
				failed = true
				break
			}
			open = append(open, ls)
			due = due[k:]
		}
		for f, eps := range claims {
			n.sendClaim(f, eps)
		}
		open = slices.DeleteFunc(open, func(ls *lateSession) bool {
			if !ls.announced {
				ls.close()
			}
			return !ls.announced
		})
		if failed || len(open) == 0 {
			return
		}
		// Once more after lateSettle, on the same sessions (see there);
		// best effort: the epochs are done already.
		n.mu.Lock()
		wait := cmp.Or(n.lateSettleWait, lateSettle)
		n.mu.Unlock()
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		again := map[*friend][]meetEpoch{}
		for _, ls := range open {
			found, err := n.lateAnnounce(ctx, ls)
			if err != nil {
				n.log.Debug("late announcement not repeated", "err", err)
				continue
			}
			for f, eps := range found {
				again[f] = append(again[f], eps...)
			}
		}
		for f, eps := range again {
			if eps = n.unclaimed(f, eps); len(eps) > 0 {
				n.sendClaim(f, eps)
			}
		}
	})
}

// lateToken maps a token of a late announcement to its friend.
type lateToken struct {
	f    *friend
	here bool
}

// lateSession is one hour of late epochs announced on a one-off
// identity, its rendezvous session kept open for announcing them again.
type lateSession struct {
	h  host.Host
	c  *relayclient.Client
	rv *relayclient.Rendezvous
	// eps are the epochs' announcements, built (tokens derived, records
	// sealed, forget tags read) once for both announcements.
	eps []lateEpoch
	// announced: the relay took at least one of the epochs (not refused
	// as outside its window, or without a history).
	announced bool
}

// lateEpoch is one epoch's late announcement (lateAnnouncements).
type lateEpoch struct {
	e       uint64
	anns    []relayclient.Announcement
	byToken map[[crypto.TokenSize]byte]lateToken
	shared  []byte
	tag     []byte
}

func (ls *lateSession) close() {
	ls.rv.Close()
	ls.c.Close()
	ls.h.Close()
}

// lateGroup announces one hour of late epochs on a one-off identity, marks
// them done and adds what each friend's matches claim to claims. It
// returns the session, still open (the caller closes it).
func (n *Node) lateGroup(ctx context.Context, rc *relayConn, recs []historyRec, claims map[*friend][]meetEpoch) (*lateSession, error) {
	h, err := n.clientHost()
	if err != nil {
		return nil, err
	}
	c := relayclient.New(n.relayHost(h), rc.ai, relayclient.Config{})
	rv, err := c.Rendezvous(ctx, nil)
	if err != nil {
		c.Close()
		h.Close()
		return nil, fmt.Errorf("node: late rendezvous: %w", err)
	}
	ls := &lateSession{h: h, c: c, rv: rv}
	for _, r := range recs {
		anns, byToken, shared, err := n.lateAnnouncements(r, h.ID())
		if err != nil {
			ls.close()
			return nil, err
		}
		le := lateEpoch{e: r.E, anns: anns, byToken: byToken, shared: shared}
		if len(anns) > 0 {
			le.tag = n.forgetTag(r.E) // a store read: once per epoch, not per batch
		}
		ls.eps = append(ls.eps, le)
	}
	found, err := n.lateAnnounce(ctx, ls)
	if err == nil {
		done := make([]uint64, len(recs))
		for i, r := range recs {
			done[i] = r.E
		}
		err = n.updateHistory(done, func(r *historyRec) { r.Late = true })
	}
	if err != nil {
		ls.close()
		return nil, err
	}
	for f, eps := range found {
		claims[f] = append(claims[f], eps...)
	}
	return ls, nil
}

// lateAnnounce announces ls's epochs on its session and returns, per
// friend, the epochs and tokens the friend's records back.
func (n *Node) lateAnnounce(ctx context.Context, ls *lateSession) (map[*friend][]meetEpoch, error) {
	found := map[*friend][]meetEpoch{}
	es := uint32(n.cfg.EpochSeconds)
	for _, le := range ls.eps {
		var ms []relayclient.Match
		for anns := le.anns; len(anns) > 0; {
			batch := anns[:min(len(anns), proto.MaxAnnouncements)]
			anns = anns[len(batch):]
			_, bm, err := ls.rv.LateAnnounce(ctx, es, le.e, le.shared, le.tag, batch)
			if errors.Is(err, proto.ErrStale) || errors.Is(err, proto.ErrUnsupported) {
				break // outside the relay's window, or no history there: give up on it
			}
			if err != nil {
				return nil, err
			}
			ls.announced = true
			ms = append(ms, bm...)
		}
		for _, m := range ms {
			lt, ok := le.byToken[m.Token]
			if !ok || m.Epoch != le.e {
				continue
			}
			plain, err := lt.f.keys.OpenSharedRecord(m.Epoch, m.Record, m.Shared)
			if err == nil {
				_, _, err = decodeRecord(m.Epoch, plain)
			}
			if err != nil {
				continue // not the friend's record: the relay's word is not enough
			}
			found[lt.f] = append(found[lt.f], meetEpoch{E: m.Epoch, T: hex.EncodeToString(m.Token[:]), H: lt.here})
		}
	}
	return found, nil
}

// lateAnnouncements builds the announcements of one past epoch for every
// friend that announces, from the history's cells: one per friend and
// position, each with the friend's share of one shared record.
func (n *Node) lateAnnouncements(r historyRec, self peer.ID) ([]relayclient.Announcement, map[[crypto.TokenSize]byte]lateToken, []byte, error) {
	// The record names the one-off identity: the friend only needs it to
	// be sealed by this device for this epoch.
	plain, err := encodeRecord(r.E, self, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	seed, err := crypto.NewRecordSeed(rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	shared, err := crypto.SealSharedRecord(rand.Reader, seed, r.E, plain)
	if err != nil {
		return nil, nil, nil, err
	}
	es := uint32(n.cfg.EpochSeconds)
	byToken := map[[crypto.TokenSize]byte]lateToken{}
	var anns []relayclient.Announcement
	for _, f := range n.proxFriends() {
		lvl := n.precisionLevel(f)
		share := f.keys.RecordShare(r.E, seed)
		for _, pos := range r.S {
			for _, cs := range pos {
				if cs.L != lvl {
					continue
				}
				ht, nts, err := crypto.FriendTokens(f.keys, r.E, es, lvl, cs.H, cs.N)
				if err != nil {
					continue // that day's key is gone
				}
				a := relayclient.Announcement{Tokens: []relayclient.Token{{Value: ht, Here: true}}, Record: share[:]}
				byToken[ht] = lateToken{f, true}
				for _, t := range nts[:min(len(nts), proto.MaxTokensPerAnnouncement-1)] {
					a.Tokens = append(a.Tokens, relayclient.Token{Value: t})
					byToken[t] = lateToken{f, false}
				}
				anns = append(anns, a)
			}
		}
	}
	return anns, byToken, shared, nil
}

// claimKey names the epochs a claim to friend f waits to have confirmed.
func claimKey(friendID string) string { return "late-claim/" + friendID }

// pruneClaims drops from every friend's waiting claim the epochs older
// than cut (claims the friend never confirmed): they are past times of
// this device's meetings and must not outlive the history window.
func (n *Node) pruneClaims(cut uint64) {
	for _, f := range n.friendList() {
		var pending []uint64
		if err := n.getJSON(localstore.History, claimKey(f.id), &pending); err != nil || len(pending) == 0 {
			continue
		}
		kept := slices.DeleteFunc(slices.Clone(pending), func(e uint64) bool { return e < cut })
		if len(kept) == len(pending) {
			continue
		}
		var err error
		if len(kept) == 0 {
			err = n.store.Delete(localstore.History, claimKey(f.id))
		} else {
			err = n.putJSON(localstore.History, claimKey(f.id), kept)
		}
		if err != nil {
			n.log.Warn("late claims not pruned", "err", err)
		}
	}
}

// unclaimed drops from eps the epochs claimed from f before and waiting
// for its confirm, or already a meeting with f: a round announced again
// finds the first announcement's matches too.
func (n *Node) unclaimed(f *friend, eps []meetEpoch) []meetEpoch {
	_ = n.store.View(func(tx *localstore.Tx) error {
		var pending []uint64
		if b, err := tx.Get(localstore.History, claimKey(f.id)); err == nil {
			_ = json.Unmarshal(b, &pending)
		}
		eps = slices.DeleteFunc(eps, func(e meetEpoch) bool {
			return slices.Contains(pending, e.E) || tx.Has(localstore.Meetings, meetingKey(f.id, e.E))
		})
		return nil
	})
	return eps
}

// sendClaim remembers the claimed epochs and sends the claim to f.
func (n *Node) sendClaim(f *friend, eps []meetEpoch) {
	slices.SortFunc(eps, func(a, b meetEpoch) int { return cmp.Compare(a.E, b.E) })
	var pending []uint64
	_ = n.getJSON(localstore.History, claimKey(f.id), &pending)
	for _, e := range eps {
		if !slices.Contains(pending, e.E) {
			pending = append(pending, e.E)
		}
	}
	if err := n.putJSON(localstore.History, claimKey(f.id), pending); err != nil {
		n.log.Warn("late claim not stored", "err", err)
		return
	}
	for len(eps) > 0 {
		part := eps[:min(len(eps), maxMeetEpochs)]
		eps = eps[len(part):]
		b, _ := json.Marshal(meetMsg{K: "claim", E: part})
		if _, err := n.sendSmall(f.id, TypeMeet, string(b)); err != nil {
			n.log.Warn("late claim not queued", "err", err)
		}
	}
}

// receiveMeet handles a friend's claim or confirm once (the seen mark).
func (n *Node) receiveMeet(f *friend, op *crypto.Opened, text string) error {
	var m meetMsg
	if err := json.Unmarshal([]byte(text), &m); err != nil || len(m.E) == 0 || len(m.E) > maxMeetEpochs {
		return fmt.Errorf("node: meet item from a friend: %w", ErrPeer)
	}
	id := hex.EncodeToString(op.ItemID[:])
	fresh := false
	if err := n.store.Update(func(tx *localstore.Tx) error {
		if tx.Has(localstore.Seen, id) {
			return nil
		}
		fresh = true
		return tx.Put(localstore.Seen, id, []byte("{}"))
	}); err != nil || !fresh {
		return err
	}
	switch m.K {
	case "claim":
		ok := n.verifyClaim(f, m.E)
		if len(ok) == 0 {
			return nil
		}
		n.noteMeeting(f.id, MeetingLate, ok)
		conf := make([]meetEpoch, len(ok))
		for i, e := range ok {
			conf[i] = meetEpoch{E: e}
		}
		b, _ := json.Marshal(meetMsg{K: "confirm", E: conf})
		_, err := n.sendSmall(f.id, TypeMeet, string(b))
		return err
	case "confirm":
		var pending []uint64
		_ = n.getJSON(localstore.History, claimKey(f.id), &pending)
		var ok []uint64
		for _, e := range m.E {
			if slices.Contains(pending, e.E) {
				ok = append(ok, e.E)
			}
		}
		pending = slices.DeleteFunc(pending, func(e uint64) bool { return slices.Contains(ok, e) })
		if err := n.putJSON(localstore.History, claimKey(f.id), pending); err != nil {
			return err
		}
		if len(ok) > 0 {
			n.noteMeeting(f.id, MeetingLate, ok)
		}
		return nil
	}
	return fmt.Errorf("node: meet item kind: %w", ErrPeer)
}

// verifyClaim returns the claimed epochs this device's own history
// confirms: the claimant's token equals one of this device's tokens for
// the friend in that epoch, here=here or here=near (near=near is no
// meeting, as at the relay). Only cells at the level this device
// announces to the friend count (none with precision off): the friend
// holds the pair keys, so it can make up a claim for any place, and a
// confirm must tell it no more than a live match would have.
func (n *Node) verifyClaim(f *friend, eps []meetEpoch) []uint64 {
	lvl := n.precisionLevel(f)
	if lvl == 0 {
		return nil
	}
	es := uint32(n.cfg.EpochSeconds)
	cut := n.historyCutEpoch()
	var ok []uint64
	for _, c := range eps {
		tb, err := hex.DecodeString(c.T)
		if err != nil || len(tb) != crypto.TokenSize || c.E < cut || slices.Contains(ok, c.E) {
			continue
		}
		if r, found := n.historyAt(c.E); found && historyBacks(f, r, lvl, es, [crypto.TokenSize]byte(tb), c.H) {
			ok = append(ok, c.E)
		}
	}
	return ok
}

// historyBacks reports whether r holds a cell at level lvl whose token for
// f is tok: its here token, or a near one when the claimant was here
// (near=near is no meeting).
func historyBacks(f *friend, r historyRec, lvl int, es uint32, tok [crypto.TokenSize]byte, claimHere bool) bool {
	for _, pos := range r.S {
		for _, cs := range pos {
			if cs.L != lvl {
				continue
			}
			ht, nts, err := crypto.FriendTokens(f.keys, r.E, es, cs.L, cs.H, cs.N)
			if err == nil && (ht == tok || claimHere && slices.Contains(nts, tok)) {
				return true
			}
		}
	}
	return false
}
