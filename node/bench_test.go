package node

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
)

const benchSize = 8 << 20

// received signals each item_received.
type received chan Event

func (r received) OnEvent(e *Event) {
	if e.Kind == EventItemReceived {
		r <- *e
	}
}

func benchNode(b *testing.B, clock *testClock, h EventHandler) *testNode {
	b.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	tn := &testNode{ev: newEvents(), dir: b.TempDir(), key: key}
	tn.Node = tn.open(b, clock, nil, func(c *Config) {
		c.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1"}
		if h != nil {
			c.Events = h
		}
	})
	if h != nil {
		tn.ev = nil
	}
	return tn
}

func benchFanout(b *testing.B, friends int, withSeal bool) {
	clock := newTestClock()
	a := benchNode(b, clock, nil)
	got := make(received, 16)
	var ids []string
	for i := 0; i < friends; i++ {
		r := benchNode(b, clock, got)
		inv, err := a.Invite()
		if err != nil {
			b.Fatal(err)
		}
		aID, err := r.Link(context.Background(), inv)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.SetAutoAccept(aID, true); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, r.ID())
	}
	time.Sleep(200 * time.Millisecond) // let link events settle
	path := filepath.Join(b.TempDir(), "video.mp4")
	data := make([]byte, benchSize)
	_, _ = rand.Read(data)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(benchSize * friends))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !withSeal {
			b.StopTimer()
		}
		if _, err := a.ShareVideo(path, ids); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for j := 0; j < friends; j++ {
			select {
			case e := <-got:
				b.StopTimer()
				os.Remove(e.Path)
				b.StartTimer()
			case <-time.After(60 * time.Second):
				b.Fatal("transfer did not finish")
			}
		}
	}
}

// BenchmarkShare8MiB: one 8 MiB item between two nodes over QUIC on
// loopback, from the moment the sealed copy exists to item_received (offer,
// reply, all chunks opened, written and made durable, receipt). Compare
// with BenchmarkRawQUICStream8MiB.
func BenchmarkShare8MiB(b *testing.B) { benchFanout(b, 1, false) }

// BenchmarkShare8MiBWithSealing is BenchmarkShare8MiB with the one-time
// sealing of the file into the pending copy (ShareVideo) timed too.
func BenchmarkShare8MiBWithSealing(b *testing.B) { benchFanout(b, 1, true) }

// BenchmarkShare8MiBTo5Friends: the same item to five friends, sealing
// included: the content is sealed once and only the offer is per friend.
// Bytes count all five deliveries.
func BenchmarkShare8MiBTo5Friends(b *testing.B) { benchFanout(b, 5, true) }

// BenchmarkRawQUICStream8MiB is the baseline: 8 MiB over one libp2p QUIC
// stream between two bare hosts on loopback, written and fully read.
func BenchmarkRawQUICStream8MiB(b *testing.B) { benchRaw(b, false) }

// BenchmarkRawQUICStreamToFile8MiB is the baseline with the receiver
// writing the bytes to a file and fsyncing it, as a recipient must before
// it signs a receipt.
func BenchmarkRawQUICStreamToFile8MiB(b *testing.B) { benchRaw(b, true) }

func benchRaw(b *testing.B, toFile bool) {
	dir := b.TempDir()
	h1, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"), libp2p.Transport(libp2pquic.NewTransport), libp2p.DisableRelay())
	if err != nil {
		b.Fatal(err)
	}
	defer h1.Close()
	h2, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"), libp2p.Transport(libp2pquic.NewTransport), libp2p.DisableRelay())
	if err != nil {
		b.Fatal(err)
	}
	defer h2.Close()
	done := make(chan int64, 1)
	h2.SetStreamHandler("/bench/raw", func(s network.Stream) {
		var w io.Writer = io.Discard
		var f *os.File
		if toFile {
			f, _ = os.Create(filepath.Join(dir, "raw"))
			w = f
		}
		n, _ := io.Copy(w, s)
		if f != nil {
			f.Sync()
			f.Close()
		}
		s.Close()
		done <- n
	})
	if err := h1.Connect(context.Background(), peer.AddrInfo{ID: h2.ID(), Addrs: h2.Addrs()}); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, benchSize)
	_, _ = rand.Read(buf)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := h1.NewStream(context.Background(), h2.ID(), "/bench/raw")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Write(buf); err != nil {
			b.Fatal(err)
		}
		s.CloseWrite()
		if n := <-done; n != benchSize {
			b.Fatalf("read %d", n)
		}
		s.Close()
	}
}
