package history

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Sizes of the stored fields.
const (
	// TokenSize is the length of a proximity token: 8.
	TokenSize = 8
	// OriginSize is the length of a session origin: 16.
	OriginSize = 16
	// TagSize is the length of a forget tag (and of a forget secret): 32.
	TagSize = 32
	// MaxRecord caps a sealed or shared record: 512 (protocol.MaxSealedRecord).
	MaxRecord = 512
	// MaxTokensPerRecord caps the tokens of one announcement: 32
	// (protocol.MaxTokensPerAnnouncement).
	MaxTokensPerRecord = 32
	// MaxAnnouncements caps the announcements of one Announce: 1024.
	MaxAnnouncements = 1024

	// elemOverhead is what each key/value pair is charged on top of its
	// bytes: bbolt's 16-byte leaf element header.
	elemOverhead = 16

	headerVersion = 1
)

var (
	bucketMeta = []byte("meta")

	subIndex   = []byte("x")
	subAnn     = []byte("a")
	subRecords = []byte("r")
	subForget  = []byte("f")
)

// epochKeyLen is the length of an epoch bucket's name: epoch(8) ‖ length(4).
const epochKeyLen = 12

func epochKey(epochSeconds uint32, epoch uint64) []byte {
	k := make([]byte, epochKeyLen)
	binary.BigEndian.PutUint64(k, epoch)
	binary.BigEndian.PutUint32(k[8:], epochSeconds)
	return k
}

// decodeEpochKey reads an epoch bucket's name.
func decodeEpochKey(k []byte) (epochSeconds uint32, epoch uint64, err error) {
	if len(k) != epochKeyLen {
		return 0, 0, fmt.Errorf("%w: epoch bucket name of %d bytes", ErrCorrupt, len(k))
	}
	return binary.BigEndian.Uint32(k[8:]), binary.BigEndian.Uint64(k), nil
}

// indexKey is token(8) ‖ aid(8) ‖ i(2).
func indexKey(tok [TokenSize]byte, aid uint64, i uint16) []byte {
	k := make([]byte, TokenSize+10)
	copy(k, tok[:])
	binary.BigEndian.PutUint64(k[TokenSize:], aid)
	binary.BigEndian.PutUint16(k[TokenSize+8:], i)
	return k
}

func decodeIndexKey(k []byte) (aid uint64, i uint16, err error) {
	if len(k) != TokenSize+10 {
		return 0, 0, fmt.Errorf("%w: index key of %d bytes", ErrCorrupt, len(k))
	}
	return binary.BigEndian.Uint64(k[TokenSize:]), binary.BigEndian.Uint16(k[TokenSize+8:]), nil
}

// recordKey is aid(8) ‖ i(2).
func recordKey(aid uint64, i uint16) []byte {
	k := make([]byte, 10)
	binary.BigEndian.PutUint64(k, aid)
	binary.BigEndian.PutUint16(k[8:], i)
	return k
}

func aidKey(aid uint64) []byte { return binary.BigEndian.AppendUint64(nil, aid) }

// Kind values stored in the index.
const (
	kindHere = 0
	kindNear = 1
)

// decodeKind reads an index value: one byte, here (0) or near (1).
func decodeKind(v []byte) (here bool, err error) {
	if len(v) != 1 || v[0] > kindNear {
		return false, fmt.Errorf("%w: index value %x", ErrCorrupt, v)
	}
	return v[0] == kindHere, nil
}

func kindByte(here bool) []byte {
	if here {
		return []byte{kindHere}
	}
	return []byte{kindNear}
}

// header is an announcement's stored header:
//
//	version(1)=1 ‖ origin(16) ‖ tagLen(1: 0|32) ‖ tag ‖ count(2) ‖ shared(0..512)
//
// count is the number of its records (announcements) still stored.
type header struct {
	origin [OriginSize]byte
	tag    []byte
	count  uint16
	shared []byte
}

func (h *header) encode() []byte {
	b := make([]byte, 0, 1+OriginSize+1+len(h.tag)+2+len(h.shared))
	b = append(b, headerVersion)
	b = append(b, h.origin[:]...)
	b = append(b, byte(len(h.tag)))
	b = append(b, h.tag...)
	b = binary.BigEndian.AppendUint16(b, h.count)
	return append(b, h.shared...)
}

// decodeHeader reads a header; the result aliases v.
func decodeHeader(v []byte) (header, error) {
	var h header
	if len(v) < 1+OriginSize+1+2 {
		return h, fmt.Errorf("%w: header of %d bytes", ErrCorrupt, len(v))
	}
	if v[0] != headerVersion {
		return h, fmt.Errorf("%w: header version %d", ErrCorrupt, v[0])
	}
	copy(h.origin[:], v[1:])
	p := 1 + OriginSize
	tl := int(v[p])
	p++
	if tl != 0 && tl != TagSize {
		return h, fmt.Errorf("%w: forget tag of %d bytes", ErrCorrupt, tl)
	}
	if len(v) < p+tl+2 {
		return h, fmt.Errorf("%w: header of %d bytes", ErrCorrupt, len(v))
	}
	if tl > 0 {
		h.tag = v[p : p+tl]
	}
	p += tl
	h.count = binary.BigEndian.Uint16(v[p:])
	p += 2
	if h.count == 0 || h.count > MaxAnnouncements {
		return h, fmt.Errorf("%w: header count %d", ErrCorrupt, h.count)
	}
	if len(v)-p > MaxRecord {
		return h, fmt.Errorf("%w: shared record of %d bytes", ErrCorrupt, len(v)-p)
	}
	if len(v) > p {
		h.shared = v[p:]
	}
	return h, nil
}

// record is one announcement's stored value:
//
//	n(1) ‖ n × (token(8) ‖ kind(1)) ‖ sealed record(1..512)
//
// The tokens let Forget find the index keys to delete.
type record struct {
	tokens []Token
	sealed []byte
}

func (r *record) encode() []byte {
	b := make([]byte, 0, 1+9*len(r.tokens)+len(r.sealed))
	b = append(b, byte(len(r.tokens)))
	for _, t := range r.tokens {
		b = append(b, t.Value[:]...)
		b = append(b, kindByte(t.Here)...)
	}
	return append(b, r.sealed...)
}

// decodeRecord reads a record; sealed aliases v.
func decodeRecord(v []byte) (record, error) {
	var r record
	if len(v) < 1 {
		return r, fmt.Errorf("%w: empty record", ErrCorrupt)
	}
	n := int(v[0])
	if n == 0 || n > MaxTokensPerRecord {
		return r, fmt.Errorf("%w: record with %d tokens", ErrCorrupt, n)
	}
	p := 1 + 9*n
	if len(v) <= p || len(v)-p > MaxRecord {
		return r, fmt.Errorf("%w: record of %d bytes for %d tokens", ErrCorrupt, len(v), n)
	}
	r.tokens = make([]Token, n)
	for i := range n {
		o := 1 + 9*i
		copy(r.tokens[i].Value[:], v[o:o+TokenSize])
		here, err := decodeKind(v[o+TokenSize : o+TokenSize+1])
		if err != nil {
			return r, err
		}
		r.tokens[i].Here = here
	}
	r.sealed = v[p:]
	return r, nil
}

// counts is an epoch bucket's meta value: bytes(8) ‖ entries(8), the
// counted bytes and index entries it holds.
type counts struct{ bytes, entries int64 }

func (c counts) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(c.bytes))
	return binary.BigEndian.AppendUint64(b, uint64(c.entries))
}

func decodeCounts(v []byte) (counts, error) {
	if len(v) != 16 {
		return counts{}, fmt.Errorf("%w: meta value of %d bytes", ErrCorrupt, len(v))
	}
	c := counts{int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))}
	if c.bytes < 0 || c.entries < 0 {
		return counts{}, fmt.Errorf("%w: negative meta counts", ErrCorrupt)
	}
	return c, nil
}

// Sentinel errors. Callers branch on these with errors.Is.
var (
	// ErrStale: a late announcement's epoch is outside the window (in the
	// future, or older than the window). Nothing stored.
	ErrStale = errors.New("history: epoch outside the window")
	// ErrFull: the history holds MaxBytes. Nothing stored.
	ErrFull = errors.New("history: full")
	// ErrCorrupt: a stored value did not decode. The call changes nothing.
	ErrCorrupt = errors.New("history: corrupt value")
	// ErrClosed: the history was closed.
	ErrClosed = errors.New("history: closed")
	// ErrInvalid: an argument a caller should have validated (sizes,
	// counts). Nothing stored.
	ErrInvalid = errors.New("history: invalid announcement")
)
