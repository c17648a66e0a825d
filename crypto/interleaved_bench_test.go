package crypto

import (
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/nacl/secretbox"
)

// BenchmarkSealInterleaved times raw secretbox, our envelope, raw
// XChaCha20-Poly1305 and our stream sealing on the same data, alternating
// within every iteration, so the ratios it reports (envelope/raw against
// secretbox, which envelopes use; stream/raw against XChaCha20-Poly1305,
// which version-2 streams use) are immune to the load
// drifting between separate benchmarks on a shared machine. Each
// iteration's output buffers are fresh, as in a real seal.
func BenchmarkSealInterleaved(b *testing.B) {
	sender, r := testIdentity(b, "s"), testIdentity(b, "r")
	sealer, err := NewSealer(sender, r.BoxPub())
	if err != nil {
		b.Fatal(err)
	}
	k, err := NewStreamKey(detRand("k"), DefaultChunkSize)
	if err != nil {
		b.Fatal(err)
	}
	rnd := detRand("bench")
	var key [32]byte
	var nonce [24]byte
	xc, _ := chacha20poly1305.NewX(key[:])
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			msg := make([]byte, s.n)
			env := msg[:MaxPayloadIn(s.n)]
			cs := int(k.ChunkSize)
			chunks := int(k.ChunkCount(int64(s.n)))
			var raw, envelope, rawX, stream time.Duration
			b.SetBytes(int64(s.n))
			for b.Loop() {
				t0 := time.Now()
				_ = secretbox.Seal(make([]byte, 0, s.n+secretbox.Overhead), msg, &nonce, &key)
				t1 := time.Now()
				if _, err := sealer.Seal(rnd, testHeader(TypePhoto), env); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				out := make([]byte, 0, s.n+chunks*ChunkOverhead)
				for i := range chunks {
					out, _ = k.SealChunk(out, uint32(i), i == chunks-1, msg[i*cs:min((i+1)*cs, s.n)])
				}
				t3 := time.Now()
				_ = xc.Seal(make([]byte, 0, s.n+chacha20poly1305.Overhead), nonce[:], msg, nil)
				t4 := time.Now()
				raw, envelope, stream, rawX = raw+t1.Sub(t0), envelope+t2.Sub(t1), stream+t3.Sub(t2), rawX+t4.Sub(t3)
			}
			n := float64(b.N)
			b.ReportMetric(float64(s.n)*n/raw.Seconds()/1e6, "raw-MB/s")
			b.ReportMetric(float64(len(env))*n/envelope.Seconds()/1e6, "envelope-MB/s")
			b.ReportMetric(float64(s.n)*n/rawX.Seconds()/1e6, "rawx-MB/s")
			b.ReportMetric(float64(s.n)*n/stream.Seconds()/1e6, "stream-MB/s")
			b.ReportMetric(raw.Seconds()/envelope.Seconds()*float64(len(env))/float64(s.n), "envelope/raw")
			b.ReportMetric(rawX.Seconds()/stream.Seconds(), "stream/raw")
		})
	}
}
