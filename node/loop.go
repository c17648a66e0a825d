package node

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"time"

	"github.com/imigee/imigee/node/localstore"
)

// Retry back-off of outbox deliveries: first retry after RetryMin,
// doubling up to RetryMax. The schedule is stored with the item, so it
// survives restarts.
const (
	RetryMin = 15 * time.Second
	RetryMax = time.Hour
	// MaxParallelDeliveries caps concurrent outbound transfers: 8.
	MaxParallelDeliveries = 8
)

// loop is the node's background goroutine: it runs deliveries when woken
// (new item, friend online, relay back) or when a retry falls due, the
// proximity tick at epoch boundaries, reservation refresh and the daily
// transport rotation. With nothing pending and no location it sleeps until
// the next epoch boundary without touching the network.
func (n *Node) loop() {
	inflight := map[string]bool{}
	done := make(chan string, MaxParallelDeliveries)
	lastRes := time.Now()
	for {
		n.maybeRotate()
		n.maybeNewDay()
		n.maybePruneHistory()
		next := n.pump(inflight, done)
		n.proximityTick()
		if time.Since(lastRes) > ReservationRefresh {
			lastRes = time.Now()
			n.refreshRelays()
		}
		wait := n.untilNextEpoch()
		if next > 0 && next < wait {
			wait = next
		}
		t := time.NewTimer(wait)
		select {
		case <-n.ctx.Done():
			t.Stop()
			// Let in-flight deliveries finish (they watch ctx).
			for len(inflight) > 0 {
				delete(inflight, <-done)
			}
			return
		case <-n.kick:
		case k := <-done:
			delete(inflight, k)
		case <-t.C:
		}
		t.Stop()
	}
}

// untilNextEpoch is the real-time wait until the next epoch boundary by the
// injected clock (at least 1 s).
func (n *Node) untilNextEpoch() time.Duration {
	es := int64(n.cfg.EpochSeconds)
	now := n.cfg.Now().Unix()
	d := time.Duration(es-now%es) * time.Second
	return max(d, time.Second)
}

// scanMemo is what one of the loop's bucket scans (outbox deliveries,
// notices) last found when it found nothing to do, so a wake that cannot
// change the answer skips the scan: the two read transactions of every
// wake were 2.7 % of a simulated day's CPU (issue 14). The answer holds
// while nothing was written to the bucket (localstore.Version), nothing
// was bumped (Node.gen), the scan's flag (deliveries held; a sync
// running) is unchanged, and no retry, expiry or hold has fallen due.
// Loop goroutine only.
type scanMemo struct {
	ok    bool // the fields below describe a scan that found nothing due
	ver   uint64
	gen   uint64
	flag  bool
	until time.Time // by the injected clock: the first retry or expiry
	retry time.Time // by the injected clock: the first retry (zero: none)
	hold  time.Time // by the real clock: the first hold ending (zero: none)
}

// valid reports whether a scan now would find what the memo says.
func (m *scanMemo) valid(ver, gen uint64, flag bool, now time.Time) bool {
	return m.ok && m.ver == ver && m.gen == gen && m.flag == flag && now.Before(m.until) &&
		(m.hold.IsZero() || time.Now().Before(m.hold))
}

// wait is next lowered to the wait until the memo's first retry or hold.
func (m *scanMemo) wait(now time.Time, next time.Duration) time.Duration {
	lower := func(w time.Duration) {
		if w > 0 && (next == 0 || w < next) {
			next = w
		}
	}
	if !m.retry.IsZero() {
		lower(m.retry.Sub(now))
	}
	if !m.hold.IsZero() {
		lower(time.Until(m.hold))
	}
	return next
}

// remember makes m describe a scan at now that took version ver: found
// nothing due if idle; until is its first expiry (zero: none) and next
// its wait until the first retry (0: none); hold its first hold ending.
func (m *scanMemo) remember(idle bool, ver, gen uint64, flag bool, now, until time.Time, next time.Duration, hold time.Time) {
	*m = scanMemo{ok: idle, ver: ver, gen: gen, flag: flag, until: until, hold: hold}
	if next > 0 {
		m.retry = now.Add(next)
		if m.until.IsZero() || m.retry.Before(m.until) {
			m.until = m.retry
		}
	}
	if m.until.IsZero() {
		m.until = now.Add(365 * 24 * time.Hour) // nothing timed: until written
	}
}

// pump starts due deliveries and returns the wait until the next retry
// falls due (0 if none).
func (n *Node) pump(inflight map[string]bool, done chan string) time.Duration {
	now := n.cfg.Now()
	n.mu.Lock()
	gen := n.gen
	n.mu.Unlock()
	held := n.deliveriesHeld()
	ver := n.store.Version(localstore.Outbox)
	if n.outMemo.valid(ver, gen, held, now) {
		return n.pumpNotices(now, gen, inflight, done, n.outMemo.wait(now, 0))
	}
	type job struct{ item, friend string }
	var jobs []job
	var expired []*outItem
	var next time.Duration
	var until time.Time // the first expiry
	_ = n.store.ForEach(localstore.Outbox, func(v []byte) error {
		var it outItem
		if json.Unmarshal(v, &it) != nil {
			return nil
		}
		if now.Sub(time.Unix(it.Created, 0)) > n.cfg.Retention {
			expired = append(expired, &it)
			return nil
		}
		if t := time.Unix(it.Created, 0).Add(n.cfg.Retention); until.IsZero() || t.Before(until) {
			until = t
		}
		if (it.Sealing && it.Hash == nil) || held {
			return nil // not deliverable before the hash is known
		}
		for f, r := range it.To {
			if r.State != rPending {
				continue
			}
			due := time.Unix(r.NextTry, 0)
			if !due.After(now) || r.Gen < gen {
				jobs = append(jobs, job{it.ID, f})
			} else if w := due.Sub(now); next == 0 || w < next {
				next = w
			}
		}
		return nil
	})
	n.outMemo.remember(len(jobs) == 0 && len(expired) == 0, ver, gen, held, now, until, next, time.Time{})
	for _, it := range expired {
		n.expire(it)
	}
	for _, j := range jobs {
		k := j.item + "/" + j.friend
		if inflight[k] || len(inflight) >= MaxParallelDeliveries {
			continue
		}
		inflight[k] = true
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.deliver(n.itemContext(j.item), j.item, j.friend)
			done <- k
		}()
	}
	return n.pumpNotices(now, gen, inflight, done, next)
}

// bump makes every pending delivery due now: a friend came online or a
// relay (re)connected.
func (n *Node) bump() {
	n.mu.Lock()
	n.gen++
	n.mu.Unlock()
	n.wake()
}

// expire drops an item whose retention passed (P11).
func (n *Node) expire(it *outItem) {
	_ = n.store.Delete(localstore.Outbox, it.ID)
	n.endItem(it.ID)
	if it.Sealed != "" {
		os.Remove(it.Sealed)
	}
	for f, r := range it.To {
		if r.State == rPending || r.State == rPosted {
			n.emit(&Event{Kind: EventDeliveryFailed, FriendID: f, ItemID: it.ID, Type: it.Type, Err: FailRetention})
		}
	}
}

// deliver makes one attempt to get item to friend: directly if the friend
// can be reached, else to its mailbox at the relays.
func (n *Node) deliver(ctx context.Context, itemID, friendID string) {
	it, err := n.getOut(itemID)
	if err != nil {
		return
	}
	f, err := n.friend(friendID)
	if err != nil {
		// Only a friend that is gone fails the item for it: a node closing
		// (ErrClosed) must leave the item pending for the next start, not
		// drop it without a word.
		if errors.Is(err, ErrUnknownFriend) {
			_ = n.updateRecip(itemID, friendID, func(_ *outItem, r *recip) { r.State = rFailed })
		}
		return
	}
	start := n.cfg.Now().Unix()
	n.mu.Lock()
	gen := n.gen
	n.mu.Unlock()
	s, err := n.dialFriend(ctx, f)
	via := ViaDirect
	if err == nil {
		via = s.via()
		n.log.Debug("delivering directly", "via", via)
		// CancelItem (or Close) ends the stream at once.
		stop := context.AfterFunc(ctx, func() { s.s.Reset() })
		err = s.sendItem(ctx, it)
		stop()
		if err == nil {
			// The receipt proves the item durable at the friend: record
			// it and tell the app before the stream's closing handshake,
			// which waits for the friend's handler to end (a round trip
			// that is no part of the delivery).
			n.markDelivered(itemID, friendID, via)
		}
		if err == nil || errors.Is(err, errRejected) {
			s.close()
		} else {
			s.s.Reset()
		}
	}
	switch {
	case err == nil:
		n.tellRelays(ctx, f)
		return
	case errors.Is(err, errRejected):
		n.markRejected(itemID, friendID, it.Type)
		return
	case errors.Is(err, ErrUnreachable) && n.canPost(f):
		n.log.Debug("friend unreachable; posting to its mailbox", "err", err)
		if perr := n.postToMailbox(ctx, it, f); perr == nil {
			posted := false
			_ = n.updateRecip(itemID, friendID, func(_ *outItem, r *recip) {
				posted = r.State == rPending
				if posted {
					r.State = rPosted
				}
				r.LastTry, r.Gen = start, gen
			})
			if posted && !internalType(it.Type) {
				n.emit(&Event{Kind: EventQueued, FriendID: friendID, ItemID: itemID, Type: it.Type})
			}
			return
		} else {
			err = perr
		}
	}
	n.log.Debug("delivery attempt failed", "err", err)
	_ = n.updateRecip(itemID, friendID, func(_ *outItem, r *recip) {
		r.Attempts++
		r.LastTry = start
		r.Gen = gen
		r.NextTry = n.nextTry(r.Attempts)
	})
}

// nextTry is when attempt number attempts+1 falls due (unix seconds):
// RetryMin after the first failure, doubling up to RetryMax. Outbox
// deliveries and notices share it.
func (n *Node) nextTry(attempts int) int64 {
	back := RetryMin << min(attempts-1, 12)
	return n.cfg.Now().Add(min(back, RetryMax)).Unix()
}

// markRejected records that friendID declined the item and tells the app
// once (EventDeliveryFailed, Err FailRejected).
func (n *Node) markRejected(itemID, friendID, typ string) {
	changed := false
	err := n.updateRecip(itemID, friendID, func(_ *outItem, r *recip) {
		changed = r.State == rPending || r.State == rPosted
		if changed {
			r.State = rRejected
		}
	})
	if err == nil && changed {
		n.emit(&Event{Kind: EventDeliveryFailed, FriendID: friendID, ItemID: itemID, Type: typ, Err: FailRejected})
	}
}

// tellRelays sends f this node's relays (with the prekey) on a session of
// its own when f has not been told the current set: a share stream carries
// one request.
func (n *Node) tellRelays(ctx context.Context, f *friend) {
	if n.toldCurrent(f) {
		return
	}
	s, err := n.dialSession(ctx, f)
	if err != nil {
		return
	}
	s.sendPrekey()
	s.close()
}
