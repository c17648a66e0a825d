package relayabuse

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/relayclient"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

const attackTime = 3 * time.Second

// floodFrame is a MailboxRequest frame of about size bytes whose body is
// body (a Fetch = 4 or Ack = 5) full of empty auths.
func floodFrame(body protowire.Number, size int) []byte {
	inner := protowire.AppendTag(nil, 1, protowire.BytesType)
	inner = protowire.AppendBytes(inner, make([]byte, 32))
	for len(inner) < size-16 {
		inner = append(inner, 0x12, 0x00) // field 2 (auth), empty
	}
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	b = protowire.AppendTag(b, body, protowire.BytesType)
	b = protowire.AppendBytes(b, inner)
	return append(protowire.AppendVarint(nil, uint64(len(b))), b...)
}

// TestFloodInvalidFrames: 16 streams of one connection send 1 MiB frames of
// ~500,000 empty auths (and 190 KiB ones that fit the non-Put cap) as fast
// as the relay takes them. On the old relay each frame was decoded into
// ~500,000 structs: RSS went to 2.5 GiB in 20 s and legitimate latency to
// seconds.
func TestFloodInvalidFrames(t *testing.T) {
	r := startRelay(t, "")
	a := newAttacker(t, r)
	big := floodFrame(4, 1<<20)
	small := floodFrame(5, protocol.MaxMailboxSmallRequest-64)
	underAttack(t, r, attackTime, func(ctx context.Context) {
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				frame := big
				if i%2 == 1 {
					frame = small
				}
				for ctx.Err() == nil {
					s := a.stream(protocol.MailboxProtocol)
					if s == nil {
						continue
					}
					_ = s.SetDeadline(time.Now().Add(time.Second))
					for ctx.Err() == nil {
						if _, err := s.Write(frame); err != nil {
							break
						}
					}
					s.Reset()
				}
			}()
		}
		wg.Wait()
	})
}

// TestStorageQuota: eight identities on one address put 1 MiB blobs into
// fresh mailboxes as fast as they can. The old relay let them fill the
// global quota, then refused every put from anyone (for up to 30 days);
// now the address runs out of allowance and the legitimate client (another
// address) keeps storing.
func TestStorageQuota(t *testing.T) {
	r := startRelay(t, "")
	var as []*attacker
	for range 8 {
		as = append(as, newAttacker(t, r))
	}
	var stored, refused int64
	var mu sync.Mutex
	underAttack(t, r, attackTime, func(ctx context.Context) {
		var wg sync.WaitGroup
		for _, a := range as {
			wg.Add(1)
			go func() {
				defer wg.Done()
				blob := make([]byte, protocol.BulkBlobSize) // relays store size classes only (P12)
				for ctx.Err() == nil {
					s := a.stream(protocol.MailboxProtocol)
					if s == nil {
						continue
					}
					rd := protocol.NewReader(s, protocol.MaxMailboxResponse)
					for id := uint64(1); ctx.Err() == nil; id++ {
						var mbox [16]byte
						rand.Read(mbox[:])
						_ = s.SetDeadline(time.Now().Add(5 * time.Second))
						if protocol.WriteMsg(s, &pb.MailboxRequest{Id: id, Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: mbox[:], Blob: blob}}}) != nil {
							break
						}
						var resp pb.MailboxResponse
						if rd.ReadMsg(&resp) != nil {
							break
						}
						mu.Lock()
						if resp.GetPut() != nil {
							stored += int64(len(blob))
						} else {
							refused++
						}
						mu.Unlock()
					}
					s.Reset()
				}
			}()
		}
		wg.Wait()
	})
	t.Logf("attacker stored %d MiB, refused %d puts", stored>>20, refused)
	// The store still has room for everyone else: 16 MiB from another
	// address.
	l := newLegit(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 64 {
		blob := make([]byte, protocol.BulkBlobSize)
		if _, err := l.c.Put(ctx, l.mbox, blob); err != nil {
			t.Fatalf("legitimate 256 KiB put %d after the attack: %v", i, err)
		}
	}
	if limit := int64(32+8) << 20; stored > limit {
		t.Errorf("one address stored %d MiB, allowance 32 MiB (+8 MiB for puts admitted together)", stored>>20)
	}
}

// TestRendezvousEpochLengths: four connections from one address announce
// 4096 tokens under 30 epoch lengths each. The old engine counted the
// token budget per length, so one connection filled it (1 M entries in
// 19 s) and everyone else got UNAVAILABLE; now other lengths are refused
// and entries are capped per connection and per address, and the
// legitimate client's announce is accepted throughout.
func TestRendezvousEpochLengths(t *testing.T) {
	r := startRelay(t, "")
	var as []*attacker
	for range 4 {
		as = append(as, newAttacker(t, r))
	}
	var accepted int64
	var mu sync.Mutex
	// announce fills what the relay lets one address hold; its streams stay
	// open (holding their entries) until hold is closed. filled is done when
	// the announcing is over.
	var filled sync.WaitGroup
	hold := make(chan struct{})
	announce := func(ctx context.Context, streams *sync.WaitGroup) {
		for _, a := range as {
			filled.Add(1)
			streams.Add(1)
			go func() {
				defer streams.Done()
				s := a.stream(protocol.RendezvousProtocol)
				if s == nil {
					filled.Done()
					return
				}
				defer s.Reset()
				rd := protocol.NewReader(s, protocol.MaxRendezvousResponse)
				func() {
					defer filled.Done()
					for i := 0; i < 30 && ctx.Err() == nil; i++ {
						secs := uint32(600 + i)
						for _, ahead := range []uint64{0, 1} {
							anns := make([]*pb.Announcement, 128)
							for j := range anns {
								toks := make([]*pb.Token, 32)
								for k := range toks {
									v := make([]byte, 8)
									rand.Read(v)
									toks[k] = &pb.Token{Value: v}
								}
								anns[j] = &pb.Announcement{Tokens: toks, SealedRecord: []byte{1}}
							}
							epoch := uint64(time.Now().Unix())/uint64(secs) + ahead
							_ = s.SetDeadline(time.Now().Add(5 * time.Second))
							if protocol.WriteMsg(s, &pb.RendezvousRequest{Id: uint64(i*2) + ahead + 1, Body: &pb.RendezvousRequest_Announce{Announce: &pb.Announce{Epoch: epoch, EpochSeconds: secs, Announcements: anns}}}) != nil {
								return
							}
							var resp pb.RendezvousResponse
							if rd.ReadMsg(&resp) != nil {
								return
							}
							mu.Lock()
							accepted += int64(resp.GetAnnounce().GetAccepted())
							mu.Unlock()
						}
					}
				}()
				<-hold
			}()
		}
	}
	l2 := newLegit(t, r)
	octx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rv, err := l2.c.Rendezvous(octx, nil)
	if err != nil {
		t.Fatalf("legitimate rendezvous stream: %v", err)
	}
	defer rv.Close()
	underAttack(t, r, attackTime, func(ctx context.Context) {
		var streams sync.WaitGroup
		announce(ctx, &streams)
		filled.Wait()
		// While the attacker holds what it got: a legitimate announce.
		actx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		n, _, err := rv.Announce(actx, 600, uint64(time.Now().Unix())/600, legitAnnouncements())
		if err != nil || n != 5 {
			t.Errorf("legitimate announce while the attacker holds its entries: %d accepted, %v", n, err)
		}
		<-ctx.Done()
		close(hold)
		streams.Wait()
	})
	t.Logf("attacker entries accepted: %d", accepted)
}

// TestSlowloris: 128 streams on 4 connections each send half of a 1 MiB
// Put frame and stall. The old relay allocated ahead and kept each for
// idle_timeout + read_timeout (here 2 min; 30 min on subscribed streams);
// now a started frame must finish within read_timeout and the partial
// frames are reserved against the memory budget.
func TestSlowloris(t *testing.T) {
	r := startRelay(t, "")
	var as []*attacker
	for range 4 {
		as = append(as, newAttacker(t, r))
	}
	frame := protowire.AppendVarint(nil, 1<<20)
	frame = append(frame, 0x08, 0x01, 0x1a, 0xfa, 0xff, 0x3f) // id 1, Put of ~1 MiB
	frame = append(frame, make([]byte, 512<<10)...)
	var cut, held int
	var mu sync.Mutex
	underAttack(t, r, 2*readTimeout+2*time.Second, func(ctx context.Context) {
		var wg sync.WaitGroup
		for i := range 128 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := as[i%len(as)].stream(protocol.MailboxProtocol)
				if s == nil {
					return
				}
				defer s.Reset()
				start := time.Now()
				_ = s.SetWriteDeadline(time.Now().Add(readTimeout))
				_, _ = s.Write(frame)
				// Wait for the relay to cut the stream (it answers and closes).
				_ = s.SetReadDeadline(time.Now().Add(2*readTimeout + time.Second))
				_, err := io.Copy(io.Discard, s)
				mu.Lock()
				if err == nil || !isTimeout(err) {
					cut++
				} else {
					held++
				}
				mu.Unlock()
				_ = start
			}()
		}
		wg.Wait()
		<-ctx.Done()
	})
	t.Logf("stalled streams cut by the relay: %d, still held after 2×read_timeout+1s: %d", cut, held)
	if held > 0 {
		t.Errorf("%d stalled frames still held after 2×read_timeout + 1 s", held)
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// TestSlowReader: the attacker stores 4 MiB in its own mailbox, then asks
// for it on 64 streams of 2 connections and never reads. The old relay
// built ≈ 5.3 MiB per request and held it for write_timeout (256 streams
// → 1.35 GiB); now fetch batches and queued responses are reserved against
// the budget (refusals get UNAVAILABLE) and dropped after write_timeout.
func TestSlowReader(t *testing.T) {
	r := startRelay(t, "")
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	mbox := crypto.MailboxIDFromPub(pub)
	a0 := newAttacker(t, r)
	s := a0.stream(protocol.MailboxProtocol)
	if s == nil {
		t.Fatal("stream")
	}
	rd := protocol.NewReader(s, protocol.MaxMailboxResponse)
	for i := range 16 {
		blob := make([]byte, protocol.BulkBlobSize)
		rand.Read(blob)
		_ = protocol.WriteMsg(s, &pb.MailboxRequest{Id: uint64(i + 1), Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: mbox[:], Blob: blob}}})
		var resp pb.MailboxResponse
		if err := rd.ReadMsg(&resp); err != nil || resp.GetPut() == nil {
			t.Fatalf("setup put: %v %v", err, resp.GetError())
		}
	}
	s.Reset()
	as := []*attacker{newAttacker(t, r), newAttacker(t, r)}
	var streams []network.Stream
	var mu sync.Mutex
	underAttack(t, r, 2*writeTimeout+2*time.Second, func(ctx context.Context) {
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := as[i%2].stream(protocol.MailboxProtocol)
				if s == nil {
					return
				}
				mu.Lock()
				streams = append(streams, s)
				mu.Unlock()
				rd := protocol.NewReader(s, protocol.MaxMailboxResponse)
				_ = s.SetDeadline(time.Now().Add(5 * time.Second))
				if protocol.WriteMsg(s, &pb.MailboxRequest{Id: 1, Body: &pb.MailboxRequest_Challenge{Challenge: &pb.ChallengeRequest{}}}) != nil {
					return
				}
				var resp pb.MailboxResponse
				if rd.ReadMsg(&resp) != nil || resp.GetChallenge() == nil {
					return
				}
				ch := resp.GetChallenge().Nonce
				sig := ed25519.Sign(key, crypto.MailboxAuthMessage(crypto.OpFetch, ch, mbox))
				_ = protocol.WriteMsg(s, &pb.MailboxRequest{Id: 2, Body: &pb.MailboxRequest_Fetch{Fetch: &pb.Fetch{Challenge: ch, MaxBytes: protocol.MaxFetchBytes,
					Auth: []*pb.MailboxAuth{{MailboxId: mbox[:], Pub: pub, Sig: sig}}}}})
				// ...and never read again.
			}()
		}
		wg.Wait()
		<-ctx.Done()
		mu.Lock()
		defer mu.Unlock()
		for _, s := range streams {
			s.Reset()
		}
	})
}

// TestChallengeLeak: an authenticated request too big for the connection's
// rate budget is refused RATE_LIMITED after its challenge was issued. The
// old relay left such challenges outstanding, so after 16 the stream got
// no challenge for 60 s; now a RATE_LIMITED answer voids them.
func TestChallengeLeak(t *testing.T) {
	r := startRelay(t, "[limits]\nrequests_per_second = 200.0\nrequest_burst = 16\n")
	a := newAttacker(t, r)
	// 288 auths cost 1 + 288/16 = 19 units, above the burst of 16: always
	// rate limited, never checked. (A burst of 8 left the legitimate
	// client, on its own connection, rate limited now and then under
	// load: about one run in five, on code before and after 4 December.)
	auths := make([]*pb.MailboxAuth, 288)
	for i := range auths {
		id := make([]byte, 16)
		id[0], id[1] = byte(i), byte(i>>8)
		auths[i] = &pb.MailboxAuth{MailboxId: id, Pub: make([]byte, 32), Sig: make([]byte, 64)}
	}
	underAttack(t, r, attackTime, func(ctx context.Context) {
		s := a.stream(protocol.MailboxProtocol)
		if s == nil {
			t.Error("stream")
			return
		}
		defer s.Reset()
		rd := protocol.NewReader(s, protocol.MaxMailboxResponse)
		limited := 0
		for id := uint64(1); ctx.Err() == nil && limited <= 20; id += 2 {
			time.Sleep(30 * time.Millisecond)
			_ = s.SetDeadline(time.Now().Add(5 * time.Second))
			_ = protocol.WriteMsg(s, &pb.MailboxRequest{Id: id, Body: &pb.MailboxRequest_Challenge{Challenge: &pb.ChallengeRequest{}}})
			var resp pb.MailboxResponse
			if err := rd.ReadMsg(&resp); err != nil {
				t.Errorf("read: %v", err)
				return
			}
			if resp.GetChallenge() == nil {
				if resp.GetError().GetDetail() == "request rate exceeded" {
					continue
				}
				t.Errorf("after %d rate-limited fetches: no challenge (%v)", limited, resp.GetError())
				return
			}
			ch := resp.GetChallenge().Nonce
			_ = protocol.WriteMsg(s, &pb.MailboxRequest{Id: id + 1, Body: &pb.MailboxRequest_Fetch{Fetch: &pb.Fetch{Challenge: ch, IdsOnly: true, Auth: auths}}})
			if err := rd.ReadMsg(&resp); err != nil {
				t.Errorf("read: %v", err)
				return
			}
			if resp.GetError().GetCode() == pb.ErrorCode_RATE_LIMITED {
				limited++
			}
		}
		if limited <= 16 {
			t.Errorf("only %d fetches were rate limited", limited)
		}
		<-ctx.Done()
	})
}

// TestDecoderDetails: 100-deep unknown groups (the decoder's documented
// limit is 32) and a request with two bodies are refused with an id-0
// error and the stream is closed; the old relay decoded both (last body
// wins) and answered them.
func TestDecoderDetails(t *testing.T) {
	r := startRelay(t, "")
	a := newAttacker(t, r)
	deep := protowire.AppendTag(nil, 1, protowire.VarintType)
	deep = protowire.AppendVarint(deep, 1)
	deep = append(deep, 0x12, 0x00) // a challenge request
	for range 100 {
		deep = protowire.AppendTag(deep, 99, protowire.StartGroupType)
	}
	for range 100 {
		deep = protowire.AppendTag(deep, 99, protowire.EndGroupType)
	}
	two := []byte{0x08, 0x01, 0x1a, 0x00, 0x12, 0x00} // a put, then a challenge
	underAttack(t, r, time.Second, func(ctx context.Context) {
		for name, body := range map[string][]byte{"100-deep groups": deep, "two bodies": two} {
			s := a.stream(protocol.MailboxProtocol)
			if s == nil {
				t.Error("stream")
				return
			}
			_ = s.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = s.Write(append(protowire.AppendVarint(nil, uint64(len(body))), body...))
			rd := protocol.NewReader(s, protocol.MaxMailboxResponse)
			var resp pb.MailboxResponse
			if err := rd.ReadMsg(&resp); err != nil {
				t.Errorf("%s: %v", name, err)
			} else if resp.Id != 0 || resp.GetError().GetCode() != pb.ErrorCode_BAD_REQUEST {
				t.Errorf("%s: answered id %d %v, want id 0 BAD_REQUEST", name, resp.Id, resp.GetError())
			} else if err := rd.ReadMsg(&resp); !errors.Is(err, io.EOF) {
				t.Errorf("%s: stream not closed after the error: %v", name, err)
			}
			s.Reset()
		}
		<-ctx.Done()
	})
}

// legitAnnouncements is one friend's five tokens, as a phone announces.
func legitAnnouncements() []relayclient.Announcement {
	toks := make([]relayclient.Token, 5)
	for i := range toks {
		rand.Read(toks[i].Value[:])
	}
	return []relayclient.Announcement{{Tokens: toks, Record: make([]byte, 48)}}
}
