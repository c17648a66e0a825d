package crypto

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"golang.org/x/crypto/nacl/secretbox"
)

// Benchmarks run side by side with their raw baseline (secretbox.Seal on
// the same sizes) so one `make bench` gives ratios. Envelope payloads fill
// their bucket exactly (MaxPayloadIn(size)), i.e. size − 166 bytes, since a
// payload of exactly 64 KiB would pad to the next bucket.

var benchSizes = []struct {
	name string
	n    int
}{{"64KiB", 64 << 10}, {"1MiB", 1 << 20}, {"8MiB", 8 << 20}}

func BenchmarkSecretboxSeal(b *testing.B) {
	var key [32]byte
	var nonce [24]byte
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			msg := make([]byte, s.n)
			b.SetBytes(int64(s.n))
			for b.Loop() {
				_ = secretbox.Seal(nil, msg, &nonce, &key)
			}
		})
	}
}

func BenchmarkEnvelopeSeal(b *testing.B) {
	sender, r := testIdentity(b, "s"), testIdentity(b, "r")
	sealer, err := NewSealer(sender, r.BoxPub())
	if err != nil {
		b.Fatal(err)
	}
	rnd := detRand("bench")
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			msg := make([]byte, MaxPayloadIn(s.n))
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := sealer.Seal(rnd, testHeader(TypePhoto), msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEnvelopeOpen(b *testing.B) {
	sender, r := testIdentity(b, "s"), testIdentity(b, "r")
	sealer, _ := NewSealer(sender, r.BoxPub())
	rec := r.Recipient()
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			msg := make([]byte, MaxPayloadIn(s.n))
			env, _ := sealer.Seal(detRand("o"), testHeader(TypePhoto), msg)
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := rec.Open(env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEnvelopeSmall is the per-item cost of a like or message (one
// ephemeral key pair + one X25519 on seal; two X25519, one cached, on open).
func BenchmarkEnvelopeSmall(b *testing.B) {
	sender, r := testIdentity(b, "s"), testIdentity(b, "r")
	sealer, _ := NewSealer(sender, r.BoxPub())
	rec := r.Recipient()
	msg := make([]byte, 64)
	rnd := detRand("small")
	b.Run("Seal", func(b *testing.B) {
		for b.Loop() {
			_, _ = sealer.Seal(rnd, testHeader(TypeLike), msg)
		}
	})
	env, _ := sealer.Seal(rnd, testHeader(TypeLike), msg)
	b.Run("Open", func(b *testing.B) {
		for b.Loop() {
			_, _ = rec.Open(env)
		}
	})
}

// BenchmarkStreamSeal seals content of each size in 64 KiB chunks into one
// output buffer (as the raw baseline allocates one output).
func BenchmarkStreamSeal(b *testing.B) {
	k, _ := NewStreamKey(detRand("k"), DefaultChunkSize)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			msg := make([]byte, s.n)
			cs := int(k.ChunkSize)
			chunks := int(k.ChunkCount(int64(s.n)))
			b.SetBytes(int64(s.n))
			for b.Loop() {
				out := make([]byte, 0, s.n+chunks*ChunkOverhead)
				for i := range chunks {
					p := msg[i*cs : min((i+1)*cs, s.n)]
					out, _ = k.SealChunk(out, uint32(i), i == chunks-1, p)
				}
			}
		})
	}
}

// BenchmarkStreamSealReader is the streaming path: io.Reader in, io.Writer
// out, two chunk buffers of memory.
func BenchmarkStreamSealReader(b *testing.B) {
	k, _ := NewStreamKey(detRand("k"), DefaultChunkSize)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			msg := make([]byte, s.n)
			b.SetBytes(int64(s.n))
			for b.Loop() {
				if _, err := k.SealStream(io.Discard, bytes.NewReader(msg)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStreamOpen opens streams of each size under a version-2 key
// (the sub-benchmark names of before) and a version-3 one (v3/…).
func BenchmarkStreamOpen(b *testing.B) {
	for _, v := range []uint8{StreamV2, StreamV3} {
		k, _ := NewStreamKey(detRand("k"), DefaultChunkSize)
		k.Version = v
		prefix := ""
		if v == StreamV3 {
			prefix = "v3/"
		}
		benchStreamOpen(b, k, prefix)
	}
}

func benchStreamOpen(b *testing.B, k *StreamKey, prefix string) {
	for _, s := range benchSizes {
		b.Run(prefix+s.name, func(b *testing.B) {
			msg := make([]byte, s.n)
			var sealed bytes.Buffer
			_, _ = k.SealStream(&sealed, bytes.NewReader(msg))
			b.SetBytes(int64(s.n))
			for b.Loop() {
				if _, err := k.OpenStream(io.Discard, bytes.NewReader(sealed.Bytes())); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTokens500Friends is one epoch's proximity work for 500 friends:
// per friend, the epoch key plus one token per cell (here + near). It
// reports tokens/s and ms per 500-friend epoch. 4 cells is geo.Cells, 9 is
// geo.AllCells.
func BenchmarkTokens500Friends(b *testing.B) {
	const friends = 500
	const day = 20600
	me := testIdentity(b, "me")
	pks := make([]*PairKeys, friends)
	for i := range pks {
		f := testIdentity(b, fmt.Sprint("friend", i))
		pk, err := DerivePair(me, f.Card())
		if err != nil {
			b.Fatal(err)
		}
		pk.Advance(day)
		pks[i] = pk
	}
	for _, cells := range []int{4, 9} {
		b.Run(fmt.Sprintf("cells=%d", cells), func(b *testing.B) {
			here := uint64(0x89c25a3000000000)
			near := make([]uint64, cells-1)
			for i := range near {
				near[i] = here + uint64(i+1)<<32
			}
			var tz Tokenizer
			out := make([][TokenSize]byte, 0, friends*cells)
			epoch := uint64(day) * 144
			for b.Loop() {
				out = out[:0]
				for _, pk := range pks {
					if err := tz.SetFriend(pk, epoch, DefaultEpochSeconds); err != nil {
						b.Fatal(err)
					}
					out = tz.CellTokens(out, 16, here, near)
				}
				epoch++ // new epoch, new keys: no caching across iterations
			}
			perOp := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(perOp*1e3, "ms/epoch")
			b.ReportMetric(float64(friends*cells)/perOp, "tokens/s")
		})
	}
}
