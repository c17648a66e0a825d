package crypto

// Analytics reports (DESIGN.md P13): a fixed-length vector of small
// counters is split by the phone into two shares with Prio3 SumVec
// (draft-irtf-cfrg-vdaf, cloudflare/circl), one per collector. Each share
// alone is uniformly random; the leader's carries a share of a fully
// linear proof that every field is within [0, 2^bits), which the two
// collectors check together (prep shares) without learning the values. A
// report that fails is dropped by both. Only the sum over many reports is
// ever reconstructed.
//
// Shares travel sealed to each collector's X25519 key with nacl/box's
// anonymous sealing (an ephemeral sender key), so the leader, which
// receives both, cannot open the helper's.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cloudflare/circl/vdaf/prio3/sumvec"
	"golang.org/x/crypto/nacl/box"
)

const (
	// ReportNonceSize is the per-report nonce (random, no identifier).
	ReportNonceSize = 16
	// ReportVerifyKeySize is the collectors' shared secret verify key.
	ReportVerifyKeySize = 32
	// SealedOverhead is what box.SealAnonymous adds: 32 + 16.
	SealedOverhead = box.AnonymousOverhead
	reportContext  = "imigee/analytics/v1"
)

// ErrInvalidReport means a report's proof failed: a field out of its
// range, or a tampered share. Collectors drop such a report.
var ErrInvalidReport = errors.New("crypto: analytics report fails its validity proof")

// ReportVDAF is Prio3 SumVec for reports of Length fields of Bits bits.
// It is not safe for concurrent use (circl's Prio3 keeps hashing state):
// make one per goroutine, or serialize calls (the collectors do).
type ReportVDAF struct {
	v            *sumvec.SumVec
	length, bits uint
}

// NewReportVDAF builds the VDAF. chunk length ≈ sqrt(length·bits), the
// draft's recommendation for proof size.
func NewReportVDAF(length, bits uint) (*ReportVDAF, error) {
	if length == 0 || bits == 0 || bits > 32 {
		return nil, fmt.Errorf("crypto: report vdaf: %w: length %d, bits %d", ErrMalformed, length, bits)
	}
	chunk := uint(1)
	for chunk*chunk < length*bits {
		chunk++
	}
	v, err := sumvec.New(2, length, bits, chunk, []byte(reportContext))
	if err != nil {
		return nil, fmt.Errorf("crypto: report vdaf: %w", err)
	}
	return &ReportVDAF{v: v, length: length, bits: bits}, nil
}

// ReportShares is one sharded report: the nonce and public share go in
// the clear; Leader and Helper are the input shares (encoded) to seal for
// each collector.
type ReportShares struct {
	Nonce          [ReportNonceSize]byte
	Public         []byte
	Leader, Helper []byte
}

// ShardDay is Shard with the nonce bound to day: its first 4 bytes are
// the day (big-endian), the other 12 random. The proof covers the nonce
// (Prio3's joint randomness), so a collector cannot present the report
// under another day without it failing; collectors refuse a nonce that
// does not name the report's day (ReportNonceDay).
func (r *ReportVDAF) ShardDay(values []uint64, day uint32, rand io.Reader) (*ReportShares, error) {
	var n [ReportNonceSize]byte
	binary.BigEndian.PutUint32(n[:4], day)
	if _, err := io.ReadFull(rand, n[4:]); err != nil {
		return nil, fmt.Errorf("crypto: report: read rand: %w", err)
	}
	return r.shard(values, n, rand)
}

// ReportNonceDay is the day a ShardDay nonce names.
func ReportNonceDay(nonce []byte) uint32 {
	if len(nonce) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(nonce[:4])
}

// Shard splits values (each < 2^Bits) into the two collectors' shares,
// drawing the nonce and the VDAF's randomness from rand.
func (r *ReportVDAF) Shard(values []uint64, rand io.Reader) (*ReportShares, error) {
	var n [ReportNonceSize]byte
	if _, err := io.ReadFull(rand, n[:]); err != nil {
		return nil, fmt.Errorf("crypto: report: read rand: %w", err)
	}
	return r.shard(values, n, rand)
}

func (r *ReportVDAF) shard(values []uint64, nonce16 [ReportNonceSize]byte, rand io.Reader) (*ReportShares, error) {
	if uint(len(values)) != r.length {
		return nil, fmt.Errorf("crypto: report: %w: %d values, want %d", ErrMalformed, len(values), r.length)
	}
	for i, v := range values {
		if v >= 1<<r.bits {
			return nil, fmt.Errorf("crypto: report: %w: field %d is %d, over %d bits", ErrTooLarge, i, v, r.bits)
		}
	}
	out := ReportShares{Nonce: nonce16}
	p := r.v.Params()
	rb := make([]byte, p.RandSize())
	if _, err := io.ReadFull(rand, rb); err != nil {
		return nil, fmt.Errorf("crypto: report: read rand: %w", err)
	}
	nonce := sumvec.Nonce(out.Nonce)
	pub, shares, err := r.v.Shard(values, &nonce, rb)
	if err != nil {
		return nil, fmt.Errorf("crypto: report: shard: %w", err)
	}
	if out.Public, err = pub.MarshalBinary(); err != nil {
		return nil, err
	}
	if out.Leader, err = shares[0].MarshalBinary(); err != nil {
		return nil, err
	}
	if out.Helper, err = shares[1].MarshalBinary(); err != nil {
		return nil, err
	}
	return &out, nil
}

// SealReportShare seals one encoded share to a collector's box key.
func SealReportShare(share []byte, collector *[32]byte, rand io.Reader) ([]byte, error) {
	out, err := box.SealAnonymous(nil, share, collector, rand)
	if err != nil {
		return nil, fmt.Errorf("crypto: seal report share: %w", err)
	}
	return out, nil
}

// OpenReportShare opens a share sealed to this collector.
func OpenReportShare(sealed []byte, pub, priv *[32]byte) ([]byte, error) {
	out, ok := box.OpenAnonymous(nil, sealed, pub, priv)
	if !ok {
		return nil, fmt.Errorf("crypto: report share: %w", ErrOpen)
	}
	return out, nil
}

// ReportPrep is one collector's side of checking one report.
type ReportPrep struct {
	state *sumvec.PrepState
	// Share is this collector's prep share, sent to the other collector.
	Share []byte
}

// PrepInit starts checking a report as collector aggID (0 leader, 1
// helper) and returns the prep share to exchange.
func (r *ReportVDAF) PrepInit(verifyKey *[ReportVerifyKeySize]byte, nonce [ReportNonceSize]byte, aggID uint8, public, input []byte) (*ReportPrep, error) {
	p := r.v.Params()
	pub := new(sumvec.PublicShare).New(&p)
	if err := pub.UnmarshalBinary(public); err != nil {
		return nil, fmt.Errorf("crypto: report public share: %w", ErrMalformed)
	}
	in := new(sumvec.InputShare).New(&p, uint(aggID))
	if err := in.UnmarshalBinary(input); err != nil {
		return nil, fmt.Errorf("crypto: report input share: %w", ErrMalformed)
	}
	vk := sumvec.VerifyKey(*verifyKey)
	n := sumvec.Nonce(nonce)
	st, ps, err := r.v.PrepInit(&vk, &n, aggID, *pub, *in)
	if err != nil {
		return nil, fmt.Errorf("crypto: report prep: %w: %v", ErrMalformed, err)
	}
	b, err := ps.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &ReportPrep{state: st, Share: b}, nil
}

// Combine turns both collectors' prep shares (leader's first) into the prep
// message; ErrInvalidReport when the proof fails.
func (r *ReportVDAF) Combine(leader, helper []byte) ([]byte, error) {
	p := r.v.Params()
	shares := make([]sumvec.PrepShare, 2)
	for i, b := range [][]byte{leader, helper} {
		s := new(sumvec.PrepShare).New(&p)
		if err := s.UnmarshalBinary(b); err != nil {
			return nil, fmt.Errorf("crypto: report prep share: %w", ErrMalformed)
		}
		shares[i] = *s
	}
	msg, err := r.v.PrepSharesToPrep(shares)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidReport, err)
	}
	return msg.MarshalBinary()
}

// ReportAgg is one collector's running sum for a batch.
type ReportAgg struct {
	r     *ReportVDAF
	share sumvec.AggShare
	// Count is how many reports were added.
	Count uint64
}

// NewAgg starts an empty sum.
func (r *ReportVDAF) NewAgg() *ReportAgg { return &ReportAgg{r: r, share: r.v.AggregateInit()} }

// Finish completes one report with the prep message and adds its output
// share to the sum.
func (a *ReportAgg) Finish(prep *ReportPrep, msg []byte) error {
	p := a.r.v.Params()
	m := new(sumvec.PrepMessage).New(&p)
	if err := m.UnmarshalBinary(msg); err != nil {
		return fmt.Errorf("crypto: report prep message: %w", ErrMalformed)
	}
	out, err := a.r.v.PrepNext(prep.state, m)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidReport, err)
	}
	a.r.v.AggregateUpdate(&a.share, out)
	a.Count++
	return nil
}

// Bytes encodes the sum (to store it, or to hand it to the other
// collector for publishing).
func (a *ReportAgg) Bytes() ([]byte, error) { return a.share.MarshalBinary() }

// LoadAgg decodes a stored sum.
func (r *ReportVDAF) LoadAgg(b []byte, count uint64) (*ReportAgg, error) {
	p := r.v.Params()
	s := new(sumvec.AggShare).New(&p)
	if err := s.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("crypto: report aggregate: %w", ErrMalformed)
	}
	return &ReportAgg{r: r, share: *s, Count: count}, nil
}

// Unshard adds the two collectors' sums into the totals per field.
func (r *ReportVDAF) Unshard(leader, helper *ReportAgg) ([]uint64, error) {
	if leader.Count != helper.Count {
		return nil, fmt.Errorf("crypto: report unshard: %w: counts %d and %d differ", ErrMalformed, leader.Count, helper.Count)
	}
	out, err := r.v.Unshard([]sumvec.AggShare{leader.share, helper.share}, uint(leader.Count))
	if err != nil {
		return nil, fmt.Errorf("crypto: report unshard: %w", err)
	}
	return *out, nil
}

// NewCollectorKey makes a collector's X25519 box key pair.
func NewCollectorKey(rand io.Reader) (pub, priv *[32]byte, err error) {
	return box.GenerateKey(rand)
}
