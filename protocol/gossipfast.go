package protocol

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/imigee/imigee/protocol/pb"
)

// decodeGossipBatchFast decodes the encoding relays publish (each field
// with its declared wire type, singular fields once, no unknown fields,
// repeated fields within Scan's caps) into m without reflection: every
// relay decodes every batch of the network, and protobuf's generic
// decoder, one allocation per message and per bytes field, was the
// largest single cost of gossip in the testnet profiles. Messages come
// from a few slabs and bytes fields alias b, so b must not change while m
// is in use (a pubsub message's data is its own copy).
//
// Anything else (unknown fields, fields repeated, other wire types,
// values proto would truncate, counts over the caps) returns false with
// m reset, and the caller takes the generic path, which decides: this
// path only ever agrees with it (FuzzGossipBatchFast).
func decodeGossipBatchFast(b []byte, m *pb.RendezvousGossipBatch) bool {
	var c gossipCounts
	if !c.batch(b) {
		return false
	}
	d := gossipSlabs{
		items:   make([]pb.RendezvousGossip, c.items),
		itemPtr: make([]*pb.RendezvousGossip, c.items),
	}
	if c.anns > 0 {
		d.anns = make([]pb.Announcement, c.anns)
		d.annPtr = make([]*pb.Announcement, c.anns)
	}
	if c.tokens > 0 {
		d.toks = make([]pb.Token, c.tokens)
		d.tokPtr = make([]*pb.Token, c.tokens)
	}
	if c.forgets > 0 {
		d.forgets = make([]pb.ForgetSecret, c.forgets)
		d.forgetPtr = make([]*pb.ForgetSecret, c.forgets)
	}
	m.Items = d.itemPtr
	for i := 0; len(b) > 0; i++ {
		_, _, n := protowire.ConsumeTag(b)
		v, k := protowire.ConsumeBytes(b[n:])
		b = b[n+k:]
		it := &d.items[i]
		d.itemPtr[i] = it
		d.item(v, it)
	}
	return true
}

// gossipCounts is the first pass: it checks the structure and counts the
// messages, so the second pass allocates once.
type gossipCounts struct {
	items, anns, tokens, forgets int
}

// field reads one tag and value of b: the field number, wire type, varint
// value or bytes, and the rest of b; ok false on a malformed field or a
// group.
func field(b []byte) (num protowire.Number, typ protowire.Type, v uint64, bs, rest []byte, ok bool) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return 0, 0, 0, nil, nil, false
	}
	b = b[n:]
	switch typ {
	case protowire.VarintType:
		v, n = protowire.ConsumeVarint(b)
	case protowire.BytesType:
		bs, n = protowire.ConsumeBytes(b)
	default:
		return 0, 0, 0, nil, nil, false
	}
	if n < 0 {
		return 0, 0, 0, nil, nil, false
	}
	return num, typ, v, bs, b[n:], true
}

func (c *gossipCounts) batch(b []byte) bool {
	for len(b) > 0 {
		num, typ, _, v, rest, ok := field(b)
		if !ok || num != 1 || typ != protowire.BytesType || !c.item(v) {
			return false
		}
		b = rest
		c.items++
	}
	return c.items > 0 && c.items <= MaxGossipBatch
}

// item checks one RendezvousGossip: fields 1..9, each singular one once.
func (c *gossipCounts) item(b []byte) bool {
	var seen uint16
	anns, forgets := 0, 0
	for len(b) > 0 {
		num, typ, v, bs, rest, ok := field(b)
		if !ok || num < 1 || num > 9 {
			return false
		}
		b = rest
		switch num {
		case 4:
			if typ != protowire.BytesType || !c.announcement(bs) {
				return false
			}
			anns++
			continue
		case 9:
			if typ != protowire.BytesType || !forgetSecret(bs) {
				return false
			}
			forgets++
			continue
		}
		if seen&(1<<num) != 0 {
			return false
		}
		seen |= 1 << num
		switch num {
		case 1, 6, 8:
			if typ != protowire.BytesType {
				return false
			}
		case 2:
			if typ != protowire.VarintType {
				return false
			}
		case 3:
			if typ != protowire.VarintType || v > math.MaxUint32 {
				return false
			}
		case 5, 7:
			if typ != protowire.VarintType || v > 1 {
				return false
			}
		}
	}
	if anns > MaxRepeated || forgets > MaxRepeated {
		return false
	}
	c.anns += anns
	c.forgets += forgets
	return true
}

// announcement checks one Announcement: tokens (1, at most
// MaxTokensPerAnnouncement) and sealed_record (2) once.
func (c *gossipCounts) announcement(b []byte) bool {
	var seen uint8
	toks := 0
	for len(b) > 0 {
		num, typ, _, bs, rest, ok := field(b)
		if !ok || typ != protowire.BytesType {
			return false
		}
		b = rest
		switch num {
		case 1:
			if !token(bs) {
				return false
			}
			toks++
		case 2:
			if seen&(1<<num) != 0 {
				return false
			}
			seen |= 1 << num
		default:
			return false
		}
	}
	if toks > MaxTokensPerAnnouncement {
		return false
	}
	c.tokens += toks
	return true
}

// token checks one Token: value (1, bytes) and kind (2, an enum number
// that fits int32), each once.
func token(b []byte) bool {
	return twoFields(b, protowire.BytesType, protowire.VarintType, math.MaxInt32)
}

// forgetSecret checks one ForgetSecret: epoch (1, varint) and secret (2,
// bytes), each once.
func forgetSecret(b []byte) bool {
	return twoFields(b, protowire.VarintType, protowire.BytesType, math.MaxUint64)
}

// twoFields checks a message of fields 1 (wire type t1) and 2 (t2), each
// at most once, a varint among them at most maxVarint.
func twoFields(b []byte, t1, t2 protowire.Type, maxVarint uint64) bool {
	var seen uint8
	for len(b) > 0 {
		num, typ, v, _, rest, ok := field(b)
		if !ok || num < 1 || num > 2 || seen&(1<<num) != 0 {
			return false
		}
		seen |= 1 << num
		b = rest
		want := t1
		if num == 2 {
			want = t2
		}
		if typ != want || typ == protowire.VarintType && v > maxVarint {
			return false
		}
	}
	return true
}

// gossipSlabs are the messages of one batch, handed out in order by the
// second pass.
type gossipSlabs struct {
	items     []pb.RendezvousGossip
	itemPtr   []*pb.RendezvousGossip
	anns      []pb.Announcement
	annPtr    []*pb.Announcement
	toks      []pb.Token
	tokPtr    []*pb.Token
	forgets   []pb.ForgetSecret
	forgetPtr []*pb.ForgetSecret
	nAnn      int
	nTok      int
	nForget   int
}

// alias returns v as a field's value: nil when empty, as protobuf leaves
// an absent proto3 bytes field, and capped so an append cannot write into
// the buffer.
func alias(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	return v[:len(v):len(v)]
}

// item fills it from b, which the first pass checked.
func (d *gossipSlabs) item(b []byte, it *pb.RendezvousGossip) {
	a0, f0 := d.nAnn, d.nForget
	for len(b) > 0 {
		num, _, v, bs, rest, _ := field(b)
		b = rest
		switch num {
		case 1:
			it.Origin = alias(bs)
		case 2:
			it.Epoch = v
		case 3:
			it.EpochSeconds = uint32(v)
		case 4:
			a := &d.anns[d.nAnn]
			d.annPtr[d.nAnn] = a
			d.nAnn++
			d.announcement(bs, a)
		case 5:
			it.Withdraw = v != 0
		case 6:
			it.SharedRecord = alias(bs)
		case 7:
			it.Late = v != 0
		case 8:
			it.ForgetTag = alias(bs)
		case 9:
			f := &d.forgets[d.nForget]
			d.forgetPtr[d.nForget] = f
			d.nForget++
			f.Epoch, _, _, f.Secret = twoValues(bs)
		}
	}
	if d.nAnn > a0 {
		it.Announcements = d.annPtr[a0:d.nAnn:d.nAnn]
	}
	if d.nForget > f0 {
		it.Forget = d.forgetPtr[f0:d.nForget:d.nForget]
	}
}

func (d *gossipSlabs) announcement(b []byte, a *pb.Announcement) {
	t0 := d.nTok
	for len(b) > 0 {
		num, _, _, bs, rest, _ := field(b)
		b = rest
		if num == 2 {
			a.SealedRecord = alias(bs)
			continue
		}
		t := &d.toks[d.nTok]
		d.tokPtr[d.nTok] = t
		d.nTok++
		var kind uint64
		_, t.Value, kind, _ = twoValues(bs)
		t.Kind = pb.TokenKind(int32(kind))
	}
	if d.nTok > t0 {
		a.Tokens = d.tokPtr[t0:d.nTok:d.nTok]
	}
}

// twoValues reads a message of fields 1 and 2 that twoFields checked:
// each field's varint and (aliased) bytes, zero when absent.
func twoValues(b []byte) (v1 uint64, b1 []byte, v2 uint64, b2 []byte) {
	for len(b) > 0 {
		num, _, v, bs, rest, _ := field(b)
		b = rest
		if num == 1 {
			v1, b1 = v, alias(bs)
		} else {
			v2, b2 = v, alias(bs)
		}
	}
	return v1, b1, v2, b2
}
