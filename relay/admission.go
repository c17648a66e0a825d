package relay

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// admission decides, before the store sees a Put, whether this source may
// store these bytes now. It keeps the global quota from being taken by one
// anonymous party (issue 17):
//
//   - Per-source allowance: each source (an IPv4 address or IPv6 /64, the
//     same key as the memory budget; never stored, never logged) has a
//     byte bucket of PutBurstPerSource refilled at PutBytesPerSourcePerDay.
//     Identities are free and connections cheap, but addresses are not, so
//     the allowance is keyed on the address, not the peer ID (phones put
//     through short-lived identities).
//   - Per-connection allowance: each connection may use at most
//     PutSharePerConn (a quarter) of its source's allowance, burst and
//     refill alike (never less than one blob), so one connection cannot
//     take what other users behind the same address (a NAT, a carrier
//     gateway) need; an attacker must open more connections, which the
//     per-source allowance still sums. The bucket lives on the
//     connection's state and dies with it.
//   - Fair share when nearly full: once the store holds more than
//     FairShareAbove of its global quota, a put is refused if it would take
//     its mailbox beyond FairShareMailbox bytes. Mailbox IDs are per pair,
//     direction and day, so a friend's mailbox is small; a mailbox an
//     attacker filled is frozen while other mailboxes still get the rest.
//
// A refusal is QUOTA_EXCEEDED (retry later) and changes nothing; only
// admitted bytes are charged. The buckets live in memory, are dropped once
// full again, and hold only a key and two numbers.
type admission struct {
	perDay    float64
	burst     int
	connDay   float64 // per-connection refill, bytes per day
	connBurst int
	fairAbove float64 // fraction of the global quota
	fairBox   int64
	global    int64
	refused   func(reason string)

	mu      sync.Mutex // guards sources
	sources map[string]*rate.Limiter
}

const (
	dropPutAllowance  = "put_allowance"
	dropConnAllowance = "put_allowance_conn"
	dropFairShare     = "fair_share"
)

func newAdmission(c Config, refused func(string)) *admission {
	return &admission{
		perDay:    float64(c.Store.PutBytesPerSourcePerDay),
		burst:     int(c.Store.PutBurstPerSource),
		connDay:   c.Store.PutSharePerConn * float64(c.Store.PutBytesPerSourcePerDay),
		connBurst: max(int(c.Store.PutSharePerConn*float64(c.Store.PutBurstPerSource)), c.Store.MaxBlobSize),
		fairAbove: c.Store.FairShareAbove,
		fairBox:   c.Store.FairShareMailbox,
		global:    c.Store.GlobalQuota,
		refused:   refused,
		sources:   make(map[string]*rate.Limiter),
	}
}

var (
	errPutAllowance  = &protocol.Error{Code: pb.ErrorCode_QUOTA_EXCEEDED, Detail: "put allowance of this address exceeded; retry later"}
	errConnAllowance = &protocol.Error{Code: pb.ErrorCode_QUOTA_EXCEEDED, Detail: "put allowance of this connection exceeded; retry later"}
	errFairShare     = &protocol.Error{Code: pb.ErrorCode_QUOTA_EXCEEDED, Detail: "relay nearly full and this mailbox holds its share"}
)

// admit decides on a put of n bytes into a mailbox from connection st,
// given the mailbox's and the store's current usage. Nothing is charged:
// charge does that once the store has taken the blob, so a put the store
// refuses costs no allowance.
func (a *admission) admit(now time.Time, st *connState, n int, boxBytes, total int64) error {
	if float64(total) > a.fairAbove*float64(a.global) && boxBytes+int64(n) > a.fairBox {
		a.refused(dropFairShare)
		return errFairShare
	}
	a.mu.Lock()
	l := a.sources[st.source]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(a.perDay/86400), a.burst)
		a.sources[st.source] = l
	}
	if st.put == nil {
		st.put = rate.NewLimiter(rate.Limit(a.connDay/86400), a.connBurst)
	}
	srcOK := l.TokensAt(now) >= float64(n)
	connOK := st.put.TokensAt(now) >= float64(n)
	a.mu.Unlock()
	switch {
	case !srcOK:
		a.refused(dropPutAllowance)
		return errPutAllowance
	case !connOK:
		a.refused(dropConnAllowance)
		return errConnAllowance
	}
	return nil
}

// charge takes n stored bytes from st's and its source's allowances.
// Concurrent puts admitted together may overdraw them; the debt is paid
// before the next admission.
func (a *admission) charge(now time.Time, st *connState, n int) {
	a.mu.Lock()
	if l := a.sources[st.source]; l != nil {
		l.ReserveN(now, n)
	}
	if st.put != nil {
		st.put.ReserveN(now, n)
	}
	a.mu.Unlock()
}

// sweep drops buckets that are full again (their source is idle).
func (a *admission) sweep(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, l := range a.sources {
		if l.TokensAt(now) >= float64(a.burst) {
			delete(a.sources, k)
		}
	}
}
