package simnet

import (
	"bytes"
	"cmp"
	"slices"
)

// Canonical order of a round's lite messages.
//
// admit sorts a round's packets by source and destination and keeps each
// pair's write order, and the event heap breaks ties of one instant by
// that order. For QUIC that is all it can do: one connection's packets
// must keep their order, and what a packet holds is quic-go's business.
// For the lite transport it is not enough, because addresses and streams
// are handed out in goroutine order: a node back online sends the
// receipts of its mailbox items to a relay each from its own goroutine,
// each through a one-off host whose address is the node's next one (the
// k-th host of node i), on a stream whose id is the connection's next
// one. Which receipt got the lower address or id, and so went first on a
// shared link (the relay's down link, where the two arrive at one
// instant, or the relay's up link, where its answers leave in one round),
// followed the scheduler, and a delivery moved by one message's
// serialization time (22 µs in TestSimSameSeed's scenario) between runs.
// Streams and connections are independent, so the wire may send their
// messages in any order: canonSources orders the streams of one source's
// round by what they carry (kind, bytes, codes), keeping each stream's
// own order and every connection-level message (dial, accept, refuse,
// close) where it was, as a barrier, and joining a stream's data of the
// round (mergeData), and lessContent breaks ties of one instant by
// content before write order. Equal content means equal sizes, so the
// order of equal streams cannot show.

// canonSources puts the lite stream messages of each run of out that has
// one source (out is sorted by source) in canonical order, joining a
// stream's consecutive data messages (mergeData), and returns out,
// shortened by what was joined. QUIC packets pass through untouched.
func canonSources(out []*packet) []*packet {
	n := 0 // out[:n] is done; segments are read whole before written
	for i := 0; i < len(out); {
		j := i + 1
		if isStreamMsg(out[i]) {
			for j < len(out) && out[j].from == out[i].from && isStreamMsg(out[j]) {
				j++
			}
			n += canonStreams(out[i:j], out[n:j])
		} else {
			out[n] = out[i]
			n++
		}
		i = j
	}
	clear(out[n:])
	return out[:n]
}

// canonStreams writes seg (one source's stream messages between
// connection-level ones) to dst stream by stream, each stream's data
// joined (mergeData), the streams sorted by content, and returns how many
// messages it wrote. dst may start where seg does or before it.
func canonStreams(seg, dst []*packet) int {
	if len(seg) == 1 {
		dst[0] = seg[0]
		return 1
	}
	var order []streamKey
	by := map[streamKey][]*packet{}
	for _, p := range seg {
		k := streamKey{p.msg.conn, p.msg.id}
		if by[k] == nil {
			order = append(order, k)
		}
		by[k] = append(by[k], p)
	}
	for _, k := range order {
		by[k] = mergeData(by[k])
	}
	slices.SortStableFunc(order, func(a, b streamKey) int { return compareMsgs(by[a], by[b]) })
	n := 0
	for _, k := range order {
		n += copy(dst[n:], by[k])
	}
	return n
}

// mergeData joins a stream's consecutive data messages of one round into
// messages of up to LiteChunk. Whether an application's bytes left in one
// write or two at one virtual instant follows goroutine order too
// (go-multistream writes a stream's protocol header with the first data
// when the writer runs first, alone when a reader does: a 949-byte
// message in one run, 90 and 907 bytes in the next); a stream is a byte
// stream, so the wire may carry the bytes of one instant as one message,
// as QUIC packs them into one packet.
func mergeData(ps []*packet) []*packet {
	n := 0
	for _, p := range ps {
		if n > 0 {
			q := ps[n-1]
			if q.msg.kind == liteData && p.msg.kind == liteData && len(q.msg.data)+len(p.msg.data) <= LiteChunk {
				q.msg.data = append(q.msg.data, p.msg.data...)
				q.size = liteSize(len(q.msg.data))
				continue
			}
		}
		ps[n] = p
		n++
	}
	return ps[:n]
}

func isStreamMsg(p *packet) bool {
	if p.msg == nil {
		return false
	}
	switch p.msg.kind {
	case liteOpen, liteData, liteFin, liteReset:
		return true
	}
	return false
}

type streamKey struct {
	conn *liteConn
	id   uint64
}

// compareMsgs compares two streams' messages of a round by content.
func compareMsgs(a, b []*packet) int {
	for i := range min(len(a), len(b)) {
		if c := compareMsg(a[i].msg, b[i].msg); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// compareMsg compares two lite messages by content: stream ids,
// connections and peers, which follow the order goroutines opened
// streams and made hosts in, are left out.
func compareMsg(x, y *liteMsg) int {
	return cmp.Or(cmp.Compare(x.kind, y.kind), bytes.Compare(x.data, y.data), cmp.Compare(x.code, y.code),
		cmpBool(x.stopRead, y.stopRead), cmpBool(x.stopWrite, y.stopWrite))
}

// lessContent orders two events of one instant that the heap would
// otherwise order by write order: lite messages from different sources
// (a pair's own messages keep their order) by content.
func lessContent(a, b *event) (less, decided bool) {
	if a.p.msg == nil || b.p.msg == nil || a.deliver != b.deliver || a.p.from == b.p.from {
		return false, false
	}
	if c := compareMsg(a.p.msg, b.p.msg); c != 0 {
		return c < 0, true
	}
	return false, false
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
