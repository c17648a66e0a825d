package node

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/imigee/imigee/node/localstore"
)

// SyncOnce and the background wake-ups (see lifecycle.go for the states).

// EventSyncDone ("sync_done") ends every SyncOnce, also a background
// wake-up of the node's own; Event.Text holds the SyncSummary as JSON.
const EventSyncDone = "sync_done"

const (
	// BackgroundSyncTimeout bounds a wake-up the node makes on its own in
	// the background (a retry fell due): 25 s, inside the ~30 s iOS grants
	// a background task.
	BackgroundSyncTimeout = 25 * time.Second
	// BackgroundMinGap is the least time between two wake-ups of the
	// node's own: RetryMin (15 s), so a delivery that stays due cannot keep
	// the radio up.
	BackgroundMinGap = RetryMin
	// syncPoll is how often SyncOnce checks that every due delivery and
	// notice has had its attempt: 50 ms.
	syncPoll = 50 * time.Millisecond
)

// SyncSummary is what one SyncOnce did.
type SyncSummary struct {
	// Complete: every mailbox was caught up and every due delivery and
	// receipt had its attempt before the time-out.
	Complete bool
	// Relays configured and RelaysReached (a session stood at the end).
	Relays, RelaysReached int
	// Received: items offered or received, messages and likes that
	// arrived during the sync. Delivered: receipts that came back.
	// Linked: links completed.
	Received, Delivered, Linked int
	// Waiting: outbox recipients still to be retried (unreachable, no
	// relay took the item). Queued: items at a friend's relay, no receipt
	// yet. Notices: receipts still to be posted.
	Waiting, Queued, Notices int
	DurationMs               int64
}

// SyncOnce is a bounded wake-up for a background fetch or a push: it
// brings networking up if it is down, catches up every mailbox at every
// relay, makes every pending delivery and receipt due and waits until
// each has had its attempt (or ctx ends), then restores the network state
// the app state asks for (down in the background) and emits
// EventSyncDone. It returns the summary, and ctx's error when the time-out
// cut it short (the summary is still valid). One SyncOnce runs at a time;
// a second waits for the first.
func (n *Node) SyncOnce(ctx context.Context) (SyncSummary, error) {
	t0 := time.Now()
	n.life.syncMu.Lock()
	defer n.life.syncMu.Unlock()
	r0, d0, l0 := n.life.received.Load(), n.life.delivered.Load(), n.life.linked.Load()
	var sum SyncSummary

	n.life.mu.Lock()
	if n.isClosed() {
		n.life.mu.Unlock()
		return sum, ErrClosed
	}
	n.life.syncing++
	err := n.upLocked(ctx)
	n.life.mu.Unlock()
	defer func() {
		n.life.mu.Lock()
		n.life.syncing--
		if n.life.syncing == 0 && !n.wantNetLocked() {
			if n.life.state == AppBackground {
				_ = n.sleepLocked()
			} else {
				_ = n.downLocked()
			}
		}
		n.life.mu.Unlock()
	}()
	if err == nil {
		sum.Complete = n.syncNet(ctx)
	}
	sum.Received = int(n.life.received.Load() - r0)
	sum.Delivered = int(n.life.delivered.Load() - d0)
	sum.Linked = int(n.life.linked.Load() - l0)
	n.mu.Lock()
	sum.Relays = len(mergeAddrInfos(n.relays))
	sum.RelaysReached = len(n.rconns)
	n.mu.Unlock()
	sum.Waiting, sum.Queued, sum.Notices = n.outstanding()
	sum.DurationMs = time.Since(t0).Milliseconds()
	b, _ := json.Marshal(sum)
	n.emit(&Event{Kind: EventSyncDone, Text: string(b)})
	if err == nil && !sum.Complete {
		err = ctx.Err()
	}
	return sum, err
}

// syncNet catches up at every relay session and flushes; it reports
// whether all of it finished before ctx ended.
func (n *Node) syncNet(ctx context.Context) bool {
	// A background sync has seconds: receipts go out within it, not after
	// their random hold (P12 timing cover is weaker there; notices.go).
	n.syncing.Add(1)
	defer n.syncing.Add(-1)
	n.mu.Lock()
	rcs := make([]*relayConn, 0, len(n.rconns))
	for _, rc := range n.rconns {
		rcs = append(rcs, rc)
	}
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, rc := range rcs {
		wg.Add(1)
		go func() { defer wg.Done(); n.catchUp(ctx, rc, true) }()
	}
	wg.Wait()
	n.bump()
	t := time.NewTicker(syncPoll)
	defer t.Stop()
	for !n.flushed() {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return ctx.Err() == nil
}

// flushed reports whether every pending delivery and notice has had an
// attempt since the last bump (none is due now).
func (n *Node) flushed() bool {
	now := n.cfg.Now()
	n.mu.Lock()
	gen := n.gen
	n.mu.Unlock()
	done := true
	_ = n.store.ForEach(localstore.Outbox, func(v []byte) error {
		var it outItem
		if json.Unmarshal(v, &it) != nil || now.Sub(time.Unix(it.Created, 0)) > n.cfg.Retention {
			return nil
		}
		for _, r := range it.To {
			if r.State == rPending && (!time.Unix(r.NextTry, 0).After(now) || r.Gen < gen) {
				done = false
			}
		}
		return nil
	})
	_ = n.store.ForEach(localstore.Retry, func(v []byte) error {
		var nt notice
		if json.Unmarshal(v, &nt) != nil || nt.Item == "" {
			return nil
		}
		if !time.Unix(nt.NextTry, 0).After(now) || nt.Gen < gen {
			done = false
		}
		return nil
	})
	return done
}

// outstanding counts outbox recipients waiting for a retry or queued at a
// relay, and notices waiting to be posted.
func (n *Node) outstanding() (waiting, queued, notices int) {
	_ = n.store.ForEach(localstore.Outbox, func(v []byte) error {
		var it outItem
		if json.Unmarshal(v, &it) != nil {
			return nil
		}
		for _, r := range it.To {
			switch r.State {
			case rPending:
				waiting++
			case rPosted:
				queued++
			}
		}
		return nil
	})
	_ = n.store.ForEach(localstore.Retry, func(v []byte) error {
		var nt notice
		if json.Unmarshal(v, &nt) == nil && nt.Item != "" {
			notices++
		}
		return nil
	})
	return waiting, queued, notices
}

// nextDue is the earliest retry time (by the injected clock) of a pending
// delivery or notice; ok is false when nothing waits for a retry.
func (n *Node) nextDue() (at time.Time, ok bool) {
	note := func(t int64) {
		if tt := time.Unix(t, 0); !ok || tt.Before(at) {
			at, ok = tt, true
		}
	}
	_ = n.store.ForEach(localstore.Outbox, func(v []byte) error {
		var it outItem
		if json.Unmarshal(v, &it) != nil {
			return nil
		}
		for _, r := range it.To {
			if r.State == rPending {
				note(r.NextTry)
			}
		}
		return nil
	})
	_ = n.store.ForEach(localstore.Retry, func(v []byte) error {
		var nt notice
		if json.Unmarshal(v, &nt) == nil && nt.Item != "" {
			note(nt.NextTry)
		}
		return nil
	})
	return at, ok
}

// startBackground starts the background wake-up loop unless it runs.
func (n *Node) startBackground() {
	n.life.bgMu.Lock()
	defer n.life.bgMu.Unlock()
	if n.life.stopped || n.life.bgStop != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.life.bgStop, n.life.bgDone, n.life.bgPoke = cancel, make(chan struct{}), make(chan struct{}, 1)
	done, poke := n.life.bgDone, n.life.bgPoke
	go func() { defer close(done); n.backgroundLoop(ctx, poke) }()
}

// stopBackground stops the loop and waits for it (and for a wake-up it
// runs). final (Close) also refuses later starts.
func (n *Node) stopBackground() { n.stopBackgroundLoop(false) }

func (n *Node) stopBackgroundLoop(final bool) {
	n.life.bgMu.Lock()
	cancel, done := n.life.bgStop, n.life.bgDone
	n.life.bgStop, n.life.bgDone, n.life.bgPoke = nil, nil, nil
	if final {
		n.life.stopped = true
	}
	n.life.bgMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// pokeBackground makes the background loop look again at what is due.
func (n *Node) pokeBackground() {
	n.life.bgMu.Lock()
	defer n.life.bgMu.Unlock()
	if n.life.bgPoke != nil {
		select {
		case n.life.bgPoke <- struct{}{}:
		default:
		}
	}
}

// backgroundLoop sleeps until the earliest retry falls due (or a poke),
// then runs a SyncOnce bounded by BackgroundSyncTimeout, at most once per
// BackgroundMinGap. With nothing waiting for a retry it sleeps until
// poked: no timer, no network.
func (n *Node) backgroundLoop(ctx context.Context, poke chan struct{}) {
	var last time.Time
	for {
		var timer <-chan time.Time
		var t *time.Timer
		if at, ok := n.nextDue(); ok {
			wait := at.Sub(n.cfg.Now())
			if gap := BackgroundMinGap - time.Since(last); !last.IsZero() && gap > wait {
				wait = gap
			}
			t = time.NewTimer(max(wait, 0))
			timer = t.C
		}
		fired := false
		select {
		case <-ctx.Done():
		case <-poke:
		case <-timer:
			fired = true
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		if !fired {
			continue
		}
		last = time.Now()
		sctx, cancel := context.WithTimeout(ctx, BackgroundSyncTimeout)
		_, _ = n.SyncOnce(sctx)
		cancel()
	}
}
