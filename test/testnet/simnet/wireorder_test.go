package simnet

import (
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestWireOrderByContent: what lite messages written at one instant
// become on the wire does not depend on which goroutine got which address
// or stream id. Two one-off hosts of a node (addresses handed out in the
// order goroutines made them) each put a message to one relay, and two
// goroutines write on two streams of one connection (ids handed out in
// the order they opened them); the scheduler decides both, which the test
// plays by swapping them. The relay must receive the same sequence either
// way, a stream's bytes of one instant as one message however many
// writes they took, and one stream's own messages in order. Before
// wireorder.go the first put to arrive was the lower address's and the
// first stream the lower id's (a receipt's delivery moved by 22 µs
// between runs of TestSimSameSeed's scenario).
func TestWireOrderByContent(t *testing.T) {
	run := func(swap bool) []string {
		var got []string
		synctest.Test(t, func(t *testing.T) {
			w := newWire(20*time.Millisecond, Model{})
			defer w.close()
			var mu sync.Mutex
			recv := func(p *packet) {
				mu.Lock()
				got = append(got, string(p.msg.data))
				mu.Unlock()
			}
			ep := func(last byte, r func(*packet)) *conn {
				c, err := w.endpoint(&net.UDPAddr{IP: net.IPv4(1, 0, 0, last), Port: Port}, 8e6, 8e6, endOpts{}, r)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			relay, a, b, c := ep(1, recv), ep(2, nil), ep(3, nil), ep(4, nil)
			msg := func(from *conn, id uint64, data string) {
				w.send(&packet{from: from.ap, to: relay.ap, src: from.addr, msg: &liteMsg{kind: liteData, id: id, data: []byte(data)}, size: liteSize(len(data))})
			}
			// Two hosts, one put each: which host has which address.
			first, second := a, b
			if swap {
				first, second = b, a
			}
			msg(first, 1, "receipt for item x")
			msg(second, 1, "receipt for item y")
			time.Sleep(time.Second)
			// One host, two streams: which stream has which id, and which
			// goroutine wrote first. Stream "y" writes its header and body
			// in two writes, or in one (go-multistream's header goes out
			// alone when a reader runs first).
			if swap {
				msg(c, 1, "y: header")
				msg(c, 3, "x")
				msg(c, 1, " and body")
			} else {
				msg(c, 1, "x")
				msg(c, 3, "y: header and body")
			}
			time.Sleep(time.Second)
		})
		return got
	}
	want := []string{"receipt for item x", "receipt for item y", "x", "y: header and body"}
	for _, swap := range []bool{false, true} {
		if got := run(swap); !slices.Equal(got, want) {
			t.Errorf("swapped %v: relay received %q, want %q", swap, got, want)
		}
	}
}
