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

	valueVersion = 2
)

var (
	bucketMeta   = []byte("meta")
	bucketFormat = []byte("format")
	keyVersion   = []byte("version")

	subAnn     = []byte("a")
	subOrigin  = []byte("o")
	subSummary = []byte("s")
	subForget  = []byte("f")
)

// formatVersion is the layout this code writes (bucketFormat/version).
// Files without it are of the clear-text layout before encryption at rest
// and are discarded on Open (store.go).
const formatVersion = 2

// epochNameLen is the length of an epoch bucket's name: epoch(8) ‖ length(4).
const epochNameLen = 12

func epochName(epochSeconds uint32, epoch uint64) []byte {
	k := make([]byte, epochNameLen)
	binary.BigEndian.PutUint64(k, epoch)
	binary.BigEndian.PutUint32(k[8:], epochSeconds)
	return k
}

// decodeEpochName reads an epoch bucket's name.
func decodeEpochName(k []byte) (epochID, error) {
	if len(k) != epochNameLen {
		return epochID{}, fmt.Errorf("%w: epoch bucket name of %d bytes", ErrCorrupt, len(k))
	}
	return epochID{binary.BigEndian.Uint32(k[8:]), binary.BigEndian.Uint64(k)}, nil
}

func aidKey(aid uint64) []byte { return binary.BigEndian.AppendUint64(nil, aid) }

// idKey is an origin or forget index key: idHash(8) ‖ aid(8).
func idKey(h []byte, aid uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, 16), h...), aid)
}

const idKeyLen = 16

// Kind values stored in a record.
const (
	kindHere = 0
	kindNear = 1
)

// decodeKind reads a kind byte: here (0) or near (1).
func decodeKind(v byte) (here bool, err error) {
	if v > kindNear {
		return false, fmt.Errorf("%w: token kind %d", ErrCorrupt, v)
	}
	return v == kindHere, nil
}

func kindByte(here bool) byte {
	if here {
		return kindHere
	}
	return kindNear
}

// stored is an announcement's value in bucket "a" (key aid(8)):
//
//	version(1)=2 ‖ originHash(8) ‖ n(2) ‖ n × entry(8) ‖ sealed(body)
//
// originHash is the session's keyed hash (keys.go), as in the origin
// index: a late match counts what it leaves out beyond its maximum, and
// tells its own session's entries apart, without opening values.
// The entries are its live match index entries, one per stored (token,
// record) pair in record order: the token's keyed hash (keys.go) with bit
// 0 replaced by its kind (1 = near), so a session's later announcement
// finds what it stored before without opening anything; so one put stores an
// announcement and a late match scans the epoch's values (a match index
// keyed by token would cost one random put per token, the ≈ 400 pages
// per announcement that made gossip writes the testnet's largest cost).
// An entry upgraded by a later here (write.go) leaves the list; the body
// is never rewritten.
type stored struct {
	origin []byte // originHash(8), aliases the value
	hashes []byte // n × 8, aliases the value
	sealed []byte // nonce ‖ ciphertext ‖ tag, aliases the value
}

// storedHead is the length of a stored value's fixed head.
const storedHead = 1 + 8 + 2

func encodeStored(originHash []byte, hashes []uint64, sealedLen int) []byte {
	b := make([]byte, 0, storedHead+8*len(hashes)+sealedLen)
	b = append(b, valueVersion)
	b = append(b, originHash[:8]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(hashes)))
	for _, h := range hashes {
		b = binary.BigEndian.AppendUint64(b, h)
	}
	return b
}

// decodeStored reads a stored value; the result aliases v.
func decodeStored(v []byte) (stored, error) {
	var st stored
	if len(v) < storedHead || v[0] != valueVersion {
		return st, fmt.Errorf("%w: stored value of %d bytes", ErrCorrupt, len(v))
	}
	n := int(binary.BigEndian.Uint16(v[9:]))
	if n > MaxAnnouncements*MaxTokensPerRecord {
		return st, fmt.Errorf("%w: %d token hashes", ErrCorrupt, n)
	}
	p := storedHead + 8*n
	if len(v)-p < sealOverhead || len(v)-p > sealOverhead+maxBody {
		return st, fmt.Errorf("%w: stored value of %d bytes for %d hashes", ErrCorrupt, len(v), n)
	}
	st.origin = v[1:9]
	st.hashes = v[storedHead:p]
	st.sealed = v[p:]
	return st, nil
}

// body is an announcement's sealed plaintext:
//
//	origin(16) ‖ tagLen(1: 0|32) ‖ tag ‖ sharedLen(2) ‖ shared(0..512) ‖
//	count(2) ‖ count × record
//
// record: n(1) ‖ n × (token(8) ‖ kind(1)) ‖ len(2) ‖ sealed record(1..512).
type body struct {
	origin [OriginSize]byte
	tag    []byte
	shared []byte
	recs   []record
}

type record struct {
	tokens []Token
	sealed []byte
}

// maxBody bounds a body's plaintext.
const maxBody = OriginSize + 1 + TagSize + 2 + MaxRecord + 2 + MaxAnnouncements*(1+MaxTokensPerRecord*(TokenSize+1)+2+MaxRecord)

func (b *body) encode() []byte {
	n := OriginSize + 1 + len(b.tag) + 2 + len(b.shared) + 2
	for _, r := range b.recs {
		n += 1 + 9*len(r.tokens) + 2 + len(r.sealed)
	}
	out := make([]byte, 0, n)
	out = append(out, b.origin[:]...)
	out = append(out, byte(len(b.tag)))
	out = append(out, b.tag...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(b.shared)))
	out = append(out, b.shared...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(b.recs)))
	for _, r := range b.recs {
		out = append(out, byte(len(r.tokens)))
		for _, t := range r.tokens {
			out = append(out, t.Value[:]...)
			out = append(out, kindByte(t.Here))
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(r.sealed)))
		out = append(out, r.sealed...)
	}
	return out
}

// decodeBody reads a body; it takes what it did write and nothing else
// (no trailing bytes, every count and length in its bound). The result
// aliases v.
func decodeBody(v []byte) (body, error) {
	var b body
	bad := func(what string) (body, error) {
		return body{}, fmt.Errorf("%w: body: %s", ErrCorrupt, what)
	}
	if len(v) < OriginSize+1 {
		return bad("short")
	}
	copy(b.origin[:], v)
	p := OriginSize
	tl := int(v[p])
	p++
	if tl != 0 && tl != TagSize {
		return bad("forget tag length")
	}
	if len(v) < p+tl+2 {
		return bad("short")
	}
	if tl > 0 {
		b.tag = v[p : p+tl]
	}
	p += tl
	sl := int(binary.BigEndian.Uint16(v[p:]))
	p += 2
	if sl > MaxRecord || len(v) < p+sl+2 {
		return bad("shared record length")
	}
	if sl > 0 {
		b.shared = v[p : p+sl]
	}
	p += sl
	count := int(binary.BigEndian.Uint16(v[p:]))
	p += 2
	if count == 0 || count > MaxAnnouncements {
		return bad("record count")
	}
	b.recs = make([]record, count)
	for i := range b.recs {
		if len(v) < p+1 {
			return bad("short")
		}
		n := int(v[p])
		p++
		if n == 0 || n > MaxTokensPerRecord || len(v) < p+9*n+2 {
			return bad("token count")
		}
		r := &b.recs[i]
		r.tokens = make([]Token, n)
		for j := range n {
			copy(r.tokens[j].Value[:], v[p:p+TokenSize])
			here, err := decodeKind(v[p+TokenSize])
			if err != nil {
				return body{}, err
			}
			r.tokens[j].Here = here
			p += TokenSize + 1
		}
		rl := int(binary.BigEndian.Uint16(v[p:]))
		p += 2
		if rl == 0 || rl > MaxRecord || len(v) < p+rl {
			return bad("record length")
		}
		r.sealed = v[p : p+rl]
		p += rl
	}
	if p != len(v) {
		return bad("trailing bytes")
	}
	return b, nil
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
