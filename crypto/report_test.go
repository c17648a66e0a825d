package crypto

import (
	"crypto/rand"
	"errors"
	"math"
	mrand "math/rand/v2"
	"slices"
	"testing"
)

// collect runs both collectors over the reports: each opens its share,
// they exchange prep shares, and valid reports are added to both sums.
// byProof counts the rejected reports that got as far as the proof check
// (Combine's ErrInvalidReport).
func collect(t *testing.T, v *ReportVDAF, vk *[32]byte, reports []*ReportShares) (lead, help *ReportAgg, rejected, byProof int) {
	t.Helper()
	lead, help = v.NewAgg(), v.NewAgg()
	for _, r := range reports {
		pl, err := v.PrepInit(vk, r.Nonce, 0, r.Public, r.Leader)
		if err != nil {
			rejected++
			continue
		}
		ph, err := v.PrepInit(vk, r.Nonce, 1, r.Public, r.Helper)
		if err != nil {
			rejected++
			continue
		}
		msg, err := v.Combine(pl.Share, ph.Share)
		if err != nil {
			if !errors.Is(err, ErrInvalidReport) {
				t.Fatalf("combine: %v", err)
			}
			rejected++
			byProof++
			continue
		}
		if err := lead.Finish(pl, msg); err != nil {
			t.Fatal(err)
		}
		if err := help.Finish(ph, msg); err != nil {
			t.Fatal(err)
		}
	}
	return lead, help, rejected, byProof
}

// TestReportSumsAndValidity: 150 phones' reports sum to the true totals;
// a tampered report is caught by the proof and dropped by both sides.
func TestReportSumsAndValidity(t *testing.T) {
	const length, bits = 24, 8
	v, err := NewReportVDAF(length, bits)
	if err != nil {
		t.Fatal(err)
	}
	var vk [32]byte
	rand.Read(vk[:])
	rng := mrand.New(mrand.NewPCG(1, 2))
	want := make([]uint64, length)
	var reports []*ReportShares
	for range 150 {
		vals := make([]uint64, length)
		for i := range vals {
			vals[i] = uint64(rng.IntN(1 << bits))
			want[i] += vals[i]
		}
		r, err := v.Shard(vals, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		reports = append(reports, r)
	}
	if _, err := v.Shard(make([]uint64, length-1), rand.Reader); !errors.Is(err, ErrMalformed) {
		t.Fatal("short report sharded")
	}
	over := make([]uint64, length)
	over[3] = 1 << bits
	if _, err := v.Shard(over, rand.Reader); !errors.Is(err, ErrTooLarge) {
		t.Fatal("out-of-range field sharded")
	}
	// A dishonest client: a leader share with one measurement field
	// changed (caught at PrepInit: the joint randomness no longer matches),
	// and one with its proof share changed (the measurement share and the
	// joint randomness stay consistent, so only the validity proof, checked
	// in Combine, catches it).
	bad, _ := v.Shard(make([]uint64, length), rand.Reader)
	bad.Leader[5] ^= 0x40
	badProof, _ := v.Shard(make([]uint64, length), rand.Reader)
	badProof.Leader[length*bits*16+5] ^= 0x01 // past the measurement share (one 16-byte element per bit)
	lead, help, rejected, byProof := collect(t, v, &vk, append(reports, bad, badProof))
	if rejected != 2 || byProof != 1 || lead.Count != 150 {
		t.Fatalf("rejected %d (%d by the proof), counted %d", rejected, byProof, lead.Count)
	}
	got, err := v.Unshard(lead, help)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("field %d: %d, want %d", i, got[i], want[i])
		}
	}
	// Stored sums survive encoding.
	lb, _ := lead.Bytes()
	hb, _ := help.Bytes()
	l2, _ := v.LoadAgg(lb, lead.Count)
	h2, _ := v.LoadAgg(hb, help.Count)
	if again, err := v.Unshard(l2, h2); err != nil || !slices.Equal(again, want) {
		t.Fatalf("reloaded sums: %v %v", again, err)
	}
}

// TestReportShareLooksRandom: the bytes of one collector's shares of
// all-zero reports (the most structured input) pass a chi-square test for
// uniformity, so a share alone says nothing of the values.
func TestReportShareLooksRandom(t *testing.T) {
	v, _ := NewReportVDAF(24, 8)
	var counts [256]float64
	total := 0.0
	for range 60 {
		r, err := v.Shard(make([]uint64, 24), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		// Field elements are 16 bytes; the top byte of each is biased by
		// the modulus (p ≈ 2^128 − 2^66·…), so test the low 14 of 16.
		for i := 0; i+16 <= len(r.Leader); i += 16 {
			for _, b := range r.Leader[i : i+14] {
				counts[b]++
				total++
			}
		}
	}
	exp := total / 256
	chi := 0.0
	for _, c := range counts {
		chi += (c - exp) * (c - exp) / exp
	}
	// 255 degrees of freedom: p = 0.001 at ≈ 330.
	if chi > 330 || math.IsNaN(chi) {
		t.Fatalf("leader share bytes are not uniform: chi² = %.1f over %.0f bytes", chi, total)
	}
}

func TestReportSealing(t *testing.T) {
	pub, priv, _ := NewCollectorKey(rand.Reader)
	s, err := SealReportShare([]byte("share"), pub, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenReportShare(s, pub, priv); err != nil || string(got) != "share" {
		t.Fatalf("%q %v", got, err)
	}
	pub2, priv2, _ := NewCollectorKey(rand.Reader)
	if _, err := OpenReportShare(s, pub2, priv2); !errors.Is(err, ErrOpen) {
		t.Fatal("opened by another collector")
	}
}

func FuzzReportPrepInit(f *testing.F) {
	v, _ := NewReportVDAF(8, 4)
	r, _ := v.Shard(make([]uint64, 8), rand.Reader)
	f.Add(r.Public, r.Leader, uint8(0))
	f.Add(r.Public, r.Helper, uint8(1))
	var vk [32]byte
	f.Fuzz(func(t *testing.T, pub, in []byte, id uint8) {
		if _, err := v.PrepInit(&vk, r.Nonce, id%2, pub, in); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func BenchmarkReportShard(b *testing.B) {
	v, _ := NewReportVDAF(64, 16)
	vals := make([]uint64, 64)
	for b.Loop() {
		r, _ := v.Shard(vals, rand.Reader)
		b.ReportMetric(float64(len(r.Public)+len(r.Leader)+len(r.Helper)), "bytes")
	}
}

// TestReportNonceNamesDay: ShardDay's nonce names its day, and the same
// shares presented under a nonce naming another day fail the joint check
// (the proof covers the nonce), so a collector cannot move a report to
// another day.
func TestReportNonceNamesDay(t *testing.T) {
	v, _ := NewReportVDAF(8, 4)
	var vk [32]byte
	r, err := v.ShardDay(make([]uint64, 8), 20500, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if ReportNonceDay(r.Nonce[:]) != 20500 {
		t.Fatalf("nonce names day %d", ReportNonceDay(r.Nonce[:]))
	}
	moved := *r
	moved.Nonce[3]++ // day 20501
	lead, _, rejected, _ := collect(t, v, &vk, []*ReportShares{r, &moved})
	if rejected != 1 || lead.Count != 1 {
		t.Fatalf("a report moved to another day: rejected %d, counted %d", rejected, lead.Count)
	}
}
