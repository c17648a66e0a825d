package protocol

import (
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The pre-scan walks a frame body with protowire before proto.Unmarshal
// sees it, so that input the validators would reject anyway costs no
// allocation: a million empty sub-messages in a repeated field are counted
// (and refused) in a loop over bytes instead of being decoded into a million
// structs. It also enforces what the decoder's options do not: the nesting
// limit applies to unknown groups (protobuf-go skips those with its own
// much deeper limit) and a message may carry at most one member of a oneof
// (protobuf-go keeps the last, so "two bodies" would otherwise decode).

// MaxNesting is the deepest a message may nest, counting unknown groups:
// 32. Imigee messages nest at most four deep.
const MaxNesting = 32

// MaxRepeated caps the elements of a repeated field at the pre-scan unless
// scanCaps names its own cap (the validator's): 1024.
const MaxRepeated = 1024

// scanCaps are repeated-field caps other than MaxRepeated, by message full
// name and field number: each the cap its validator enforces.
var scanCaps = map[protoreflect.FullName]map[protowire.Number]int{
	"imigee.v1.Announcement":          {1: MaxTokensPerAnnouncement},
	"imigee.v1.ContactEvaluate":       {3: MaxContactBatch},
	"imigee.v1.ContactEvaluateResult": {1: MaxContactBatch},
	"imigee.v1.ContactPost":           {1: MaxContactEntriesPerPost},
	"imigee.v1.ContactPostResult":     {1: MaxContactMatchesPerResult, 2: MaxContactEntriesPerPost},
}

// Scan checks the encoding of a body for md without allocating: wire types
// valid, nesting ≤ MaxNesting, repeated fields within their caps, at most
// one member of each oneof present once. A failure is BAD_REQUEST (or
// TOO_LARGE for a count) and means Unmarshal must not be called.
func Scan(body []byte, md protoreflect.MessageDescriptor) (elements int, err error) {
	return scanMsg(body, md, 1)
}

func scanMsg(b []byte, md protoreflect.MessageDescriptor, depth int) (int, error) {
	if depth > MaxNesting {
		return 0, errf(badRequest, "message nests deeper than ", strconv.Itoa(MaxNesting))
	}
	fields := md.Fields()
	caps := scanCaps[md.FullName()]
	var counts [32]int   // by field index (Imigee messages have < 32 fields)
	var oneofSeen uint64 // by oneof index
	elements := 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, errf(badRequest, "malformed ", string(md.Name()), ": bad tag")
		}
		b = b[n:]
		fd := fields.ByNumber(num)
		if typ == protowire.StartGroupType {
			// proto3 has no groups: this can only be an unknown field.
			k, err := skipGroup(b, num, depth+1)
			if err != nil {
				return 0, err
			}
			b = b[k:]
			continue
		}
		if typ == protowire.EndGroupType {
			return 0, errf(badRequest, "malformed ", string(md.Name()), ": stray end group")
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, errf(badRequest, "malformed ", string(md.Name()), ": bad field value")
		}
		val := b[:n]
		b = b[n:]
		if fd == nil {
			continue
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			bit := uint64(1) << (od.Index() & 63)
			if oneofSeen&bit != 0 {
				return 0, errf(badRequest, string(md.Name()), ": more than one ", string(od.Name()))
			}
			oneofSeen |= bit
		}
		if fd.Cardinality() == protoreflect.Repeated {
			i := fd.Index() & 31
			counts[i]++
			elements++
			limit := MaxRepeated
			if c, ok := caps[num]; ok {
				limit = c
			}
			if counts[i] > limit {
				return 0, errf(tooLarge, string(md.Name()), ".", string(fd.Name()), ": more than ", strconv.Itoa(limit), " elements")
			}
		}
		if fd.Kind() == protoreflect.MessageKind && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(val)
			k, err := scanMsg(v, fd.Message(), depth+1)
			if err != nil {
				return 0, err
			}
			elements += k
		}
	}
	return elements, nil
}

// skipGroup skips an unknown group's fields up to its end tag, counting
// nested groups against MaxNesting. It returns the bytes consumed.
func skipGroup(b []byte, num protowire.Number, depth int) (int, error) {
	if depth > MaxNesting {
		return 0, errf(badRequest, "unknown group nests deeper than ", strconv.Itoa(MaxNesting))
	}
	start := len(b)
	for len(b) > 0 {
		n2, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, errf(badRequest, "malformed group: bad tag")
		}
		b = b[n:]
		switch typ {
		case protowire.EndGroupType:
			if n2 != num {
				return 0, errf(badRequest, "malformed group: mismatched end")
			}
			return start - len(b), nil
		case protowire.StartGroupType:
			k, err := skipGroup(b, n2, depth+1)
			if err != nil {
				return 0, err
			}
			b = b[k:]
		default:
			k := protowire.ConsumeFieldValue(n2, typ, b)
			if k < 0 {
				return 0, errf(badRequest, "malformed group: bad field value")
			}
			b = b[k:]
		}
	}
	return 0, errf(badRequest, "malformed group: no end")
}

// BodyCaps gives frame caps by the request body a frame carries, so only the
// one request type that needs a large frame (Put, Announce) may send one.
// The body is recognised from the frame's first bytes (a deterministic
// encoder writes the id, then the body), before the rest is read.
type BodyCaps struct {
	// Small caps a frame whose body is not listed in Large (and a frame
	// whose body field does not appear in its first HeadLen bytes).
	Small int
	// Large maps a body field number to its cap.
	Large map[protowire.Number]int
}

// HeadLen is how many leading body bytes BodyCaps looks at: 16, enough for
// an id (at most 11 bytes with its tag) and the body's tag.
const HeadLen = 16

// capFor returns the cap of a frame whose body starts with head.
func (c *BodyCaps) capFor(head []byte) int {
	for len(head) > 0 {
		num, typ, n := protowire.ConsumeTag(head)
		if n < 0 {
			break
		}
		head = head[n:]
		if typ == protowire.VarintType {
			_, k := protowire.ConsumeVarint(head)
			if k < 0 {
				break
			}
			head = head[k:]
			continue
		}
		if typ == protowire.BytesType {
			if cp, ok := c.Large[num]; ok {
				return cp
			}
		}
		break
	}
	return c.Small
}

// Per-body frame caps of requests, each derived from the largest valid
// request of that type (TestBodyCapsFitLargestValid proves they fit).
const (
	// MaxMailboxSmallRequest caps every mailbox request but Put: 192 KiB
	// (the largest, an Ack with 1024 auths and 1024 blob refs, encodes to
	// about 165 KiB).
	MaxMailboxSmallRequest = 192 << 10
	// MaxRendezvousSmallRequest caps every rendezvous request but
	// Announce, LateAnnounce and HistoryForget (a Withdraw is a few
	// bytes): 64 B.
	MaxRendezvousSmallRequest = 64
	// MaxRendezvousForgetRequest caps a HistoryForget request: 64 KiB
	// (1024 secrets encode to about 48 KiB).
	MaxRendezvousForgetRequest = 64 << 10
)

// MailboxRequestCaps: only a Put (field 3) may use MaxMailboxRequest.
var MailboxRequestCaps = &BodyCaps{Small: MaxMailboxSmallRequest, Large: map[protowire.Number]int{3: MaxMailboxRequest}}

// RendezvousRequestCaps: only an Announce (field 2) and a LateAnnounce
// (field 4) may use MaxRendezvousRequest, a HistoryForget (field 5)
// MaxRendezvousForgetRequest.
var RendezvousRequestCaps = &BodyCaps{Small: MaxRendezvousSmallRequest, Large: map[protowire.Number]int{2: MaxRendezvousRequest, 4: MaxRendezvousRequest, 5: MaxRendezvousForgetRequest}}

// PeekID returns a request body's id (field 1) without decoding it, for
// answering a request that is refused before decoding (rate limits); 0 if
// absent or the body is malformed before it.
func PeekID(body []byte) uint64 {
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 {
			return 0
		}
		body = body[n:]
		if num == 1 && typ == protowire.VarintType {
			v, k := protowire.ConsumeVarint(body)
			if k < 0 {
				return 0
			}
			return v
		}
		if typ == protowire.StartGroupType || typ == protowire.EndGroupType {
			return 0
		}
		k := protowire.ConsumeFieldValue(num, typ, body)
		if k < 0 {
			return 0
		}
		body = body[k:]
	}
	return 0
}
