package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/localstore"
)

// Notices: the signed receipts and rejections a recipient posts to a
// sender's mailbox for items that came by mailbox. The sender keeps such
// an item as queued until a notice arrives (it never re-sends it), so a
// notice that is lost leaves it waiting for the whole retention. A notice
// is therefore stored (localstore.Retry) before it is posted and retried
// like an outbox delivery: back-off from RetryMin to RetryMax, kept across
// restarts, due at once when a relay (re)connects, dropped once a relay
// acknowledged the put, when the friend is gone, or after Config.Retention.
// A notice posted twice (a retry after a lost acknowledgement) is harmless:
// the sender ignores a receipt for an item already delivered or dropped.

// MaxParallelNotices caps notice posts in flight, next to the
// MaxParallelDeliveries transfers: 4.
const MaxParallelNotices = 4

// noticePrefix names notice records in the Retry bucket (and their loop
// jobs).
const noticePrefix = "notice:"

// notice is one stored receipt or rejection waiting to be posted.
type notice struct {
	Item     string // item ID, hex
	Friend   string // the sender (friend ID) the notice goes to
	Reject   bool   `json:",omitempty"`
	Sig      []byte // signature over receiptMessage or rejectMessage
	Created  int64  // unix seconds, by the injected clock
	Attempts int    `json:",omitempty"`
	NextTry  int64  `json:",omitempty"` // unix seconds
	Gen      uint64 `json:",omitempty"` // Node.gen at the last attempt
	// Hold (real time, unix nanos) is when the notice may first be
	// posted: a random privacyDelays.receiptMin..receiptMax after it was
	// made, so the relay cannot pair a fetch with the receipt that
	// follows it (P12).
	Hold int64 `json:",omitempty"`
}

func (nt *notice) key() string { return noticePrefix + nt.Item + ":" + nt.Friend }

// sendMailboxReceipt queues a signed receipt (over the item ID and content
// hash; nil for messages and likes) for friend f's mailbox.
func (n *Node) sendMailboxReceipt(f *friend, idb, hash []byte) {
	n.queueNotice(f, idb, n.id.Sign(receiptMessage(idb, hash)), false)
}

// sendMailboxReject queues a signed rejection of an item for friend f's
// mailbox (it travels in a TypeReceipt envelope).
func (n *Node) sendMailboxReject(f *friend, idb []byte) {
	n.queueNotice(f, idb, n.id.Sign(rejectMessage(idb)), true)
}

// queueNotice stores the notice and wakes the loop to post it.
func (n *Node) queueNotice(f *friend, idb, sig []byte, reject bool) {
	nt := &notice{Item: hex.EncodeToString(idb), Friend: f.id, Reject: reject, Sig: sig, Created: n.cfg.Now().Unix(),
		Hold: time.Now().Add(randBetween(n.delays.receiptMin, n.delays.receiptMax)).UnixNano()}
	b, _ := json.Marshal(nt)
	if err := n.store.Put(localstore.Retry, nt.key(), b); err != nil {
		n.log.Debug("notice not stored", "err", err)
		return
	}
	n.wake()
}

// pumpNotices starts due notice posts (at most MaxParallelNotices in
// flight) and returns next lowered to the wait until the next one falls
// due. It runs on the loop goroutine, which owns inflight.
func (n *Node) pumpNotices(now time.Time, gen uint64, inflight map[string]bool, done chan string, next time.Duration) time.Duration {
	syncing := n.syncing.Load() != 0
	ver := n.store.Version(localstore.Retry)
	if n.noticeMemo.valid(ver, gen, syncing, now) {
		return n.noticeMemo.wait(now, next)
	}
	var due []string
	var drop []string
	var until time.Time // the first expiry
	var retry time.Duration
	var holdEnd time.Time
	_ = n.store.ForEach(localstore.Retry, func(v []byte) error {
		var nt notice
		if json.Unmarshal(v, &nt) != nil || nt.Item == "" {
			return nil
		}
		if now.Sub(time.Unix(nt.Created, 0)) > n.cfg.Retention {
			drop = append(drop, nt.key())
			return nil
		}
		if t := time.Unix(nt.Created, 0).Add(n.cfg.Retention); until.IsZero() || t.Before(until) {
			until = t
		}
		if h := time.Unix(0, nt.Hold); time.Until(h) > 0 && !syncing {
			if holdEnd.IsZero() || h.Before(holdEnd) {
				holdEnd = h
			}
			return nil
		}
		at := time.Unix(nt.NextTry, 0)
		if !at.After(now) || nt.Gen < gen {
			due = append(due, nt.key())
		} else if w := at.Sub(now); retry == 0 || w < retry {
			retry = w
		}
		return nil
	})
	n.noticeMemo.remember(len(due) == 0 && len(drop) == 0, ver, gen, syncing, now, until, retry, holdEnd)
	next = n.noticeMemo.wait(now, next)
	for _, k := range drop {
		_ = n.store.Delete(localstore.Retry, k)
	}
	running := 0
	for k := range inflight {
		if strings.HasPrefix(k, noticePrefix) {
			running++
		}
	}
	for _, k := range due {
		if inflight[k] || running >= MaxParallelNotices {
			continue
		}
		inflight[k] = true
		running++
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.postNotice(n.ctx, k)
			done <- k
		}()
	}
	return next
}

// postNotice makes one attempt to post the stored notice named key.
func (n *Node) postNotice(ctx context.Context, key string) {
	b, err := n.store.Get(localstore.Retry, key)
	if err != nil {
		return
	}
	var nt notice
	if err := json.Unmarshal(b, &nt); err != nil {
		_ = n.store.Delete(localstore.Retry, key)
		return
	}
	f, err := n.friend(nt.Friend)
	idb, perr := hex.DecodeString(nt.Item)
	if err != nil || perr != nil || len(idb) != 16 {
		// Unfriended (or a bad record): nobody to tell.
		_ = n.store.Delete(localstore.Retry, key)
		return
	}
	start := n.cfg.Now()
	n.mu.Lock()
	gen := n.gen
	n.mu.Unlock()
	var id [16]byte
	copy(id[:], idb)
	sealed, err := f.sealer.SealPadded(rand.Reader, crypto.Header{Type: crypto.TypeReceipt, ItemID: id, Created: start.Unix()}, nt.Sig, sealSize(len(nt.Sig), true))
	if err == nil {
		err = n.putBlobs(ctx, f, [][]byte{sealed})
	}
	if err == nil {
		// Posted: drop it, unless it was queued again meanwhile (then that
		// one is posted too).
		n.ifNoticeUnchanged(key, b, func(tx *localstore.Tx) error { return tx.Delete(localstore.Retry, key) })
		return
	}
	n.log.Debug("notice not posted; will retry", "reject", nt.Reject, "err", err)
	if errors.Is(ctx.Err(), context.Canceled) {
		// Closing: the record stays due for the next start.
		return
	}
	n.ifNoticeUnchanged(key, b, func(tx *localstore.Tx) error {
		nt.Attempts++
		nt.Gen = gen
		nt.NextTry = n.nextTry(nt.Attempts)
		nb, _ := json.Marshal(&nt)
		return tx.Put(localstore.Retry, key, nb)
	})
}

// ifNoticeUnchanged runs change in one transaction if the record named key
// still reads was: a notice posted, or queued again, meanwhile is left as
// it is.
func (n *Node) ifNoticeUnchanged(key string, was []byte, change func(tx *localstore.Tx) error) {
	_ = n.store.Update(func(tx *localstore.Tx) error {
		cur, err := tx.Get(localstore.Retry, key)
		if err != nil || string(cur) != string(was) {
			return nil
		}
		return change(tx)
	})
}
