package interop

import (
	"bytes"
	"testing"
	"time"

	"github.com/imigee/imigee/protocol/pb"
)

// TestMailboxFlow runs the mailbox flows of PROTOCOL.md over QUIC and TCP:
// put, fetch (with data and ids_only, resumed with after_blob_id), subscribe
// and a pushed notify (id 0), ack (deletes at once; an absent blob is not an
// error), forget, and one challenge per request.
func TestMailboxFlow(t *testing.T) {
	relay := startRelay(t)
	for _, transport := range []string{"quic", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			c := newClient(t, relay, transport)
			s := c.open(mailboxID)
			k := newMailbox(t)
			// Subscribe first, on its own stream.
			sub := c.open(mailboxID)
			n := sub.challenge()
			r := sub.mb(&pb.MailboxRequest{Body: &pb.MailboxRequest_Subscribe{Subscribe: &pb.Subscribe{Challenge: n, Auth: []*pb.MailboxAuth{k.auth(opSubscribe, n)}}}})
			if r.GetSubscribe() == nil || r.GetSubscribe().Pending != 0 {
				t.Fatalf("subscribe: %v", r)
			}
			// Puts from another, unidentified client.
			putter := newClient(t, relay, transport).open(mailboxID)
			var ids [][]byte
			for i := 0; i < 3; i++ {
				blob := blob(byte('a' + i))
				r := putter.put(k, blob)
				p := r.GetPut()
				if p == nil || len(p.BlobId) != 16 || p.ExpiresUnix <= time.Now().Unix() {
					t.Fatalf("put: %v", r)
				}
				ids = append(ids, p.BlobId)
				// The subscriber gets {id:0, notify} for it.
				nr := sub.mbResp()
				nt := nr.GetNotify()
				if nr.Id != 0 || nt == nil || !bytes.Equal(nt.MailboxId, k.id) || !bytes.Equal(nt.BlobId, p.BlobId) || nt.Size != uint32(len(blob)) {
					t.Fatalf("notify: %v", nr)
				}
			}
			// Fetch with data, two blobs at a time, resuming after the last.
			var got [][]byte
			var after []byte
			for {
				r := s.fetch(&pb.Fetch{MaxBlobs: 2, AfterBlobId: after}, k)
				f := r.GetFetch()
				if f == nil {
					t.Fatalf("fetch: %v", r)
				}
				for _, b := range f.Blobs {
					if !bytes.Equal(b.MailboxId, k.id) || len(b.Data) != int(b.Size) || b.Data[0] != byte('a'+len(got)) {
						t.Fatalf("blob %v", b)
					}
					got = append(got, b.BlobId)
					after = b.BlobId
				}
				if !f.More {
					break
				}
			}
			if len(got) != 3 {
				t.Fatalf("fetched %d blobs", len(got))
			}
			// ids_only lists without data.
			for _, b := range s.fetch(&pb.Fetch{IdsOnly: true}, k).GetFetch().GetBlobs() {
				if len(b.Data) != 0 || b.Size == 0 {
					t.Fatalf("ids_only blob %v", b)
				}
			}
			// Ack two (and one that does not exist): deleted counts what went.
			n = s.challenge()
			missing := bytes.Repeat([]byte{9}, 16)
			ack := &pb.Ack{Challenge: n, Auth: []*pb.MailboxAuth{k.auth(opAck, n)}, Blobs: []*pb.BlobRef{
				{MailboxId: k.id, BlobId: ids[0]}, {MailboxId: k.id, BlobId: ids[1]}, {MailboxId: k.id, BlobId: missing}}}
			if r := s.mb(&pb.MailboxRequest{Body: &pb.MailboxRequest_Ack{Ack: ack}}); r.GetAck().GetDeleted() != 2 {
				t.Fatalf("ack: %v", r)
			}
			// The challenge was single use.
			ack.Blobs = ack.Blobs[2:]
			if r := s.mb(&pb.MailboxRequest{Body: &pb.MailboxRequest_Ack{Ack: ack}}); code(r.Error) != pb.ErrorCode_UNAUTHORIZED {
				t.Fatalf("challenge reused: %v", r)
			}
			if bs := s.fetch(&pb.Fetch{IdsOnly: true}, k).GetFetch().GetBlobs(); len(bs) != 1 || !bytes.Equal(bs[0].BlobId, ids[2]) {
				t.Fatalf("after ack: %v", bs)
			}
			// Forget removes the rest.
			n = s.challenge()
			r = s.mb(&pb.MailboxRequest{Body: &pb.MailboxRequest_Forget{Forget: &pb.Forget{Challenge: n, Auth: []*pb.MailboxAuth{k.auth(opForget, n)}}}})
			if r.GetForget().GetDeleted() != 1 {
				t.Fatalf("forget: %v", r)
			}
			if bs := s.fetch(&pb.Fetch{}, k).GetFetch(); bs == nil || len(bs.Blobs) != 0 || bs.More {
				t.Fatalf("after forget: %v", bs)
			}
		})
	}
}

// TestRendezvousFlow: a match is reported to both sides, each with the
// other's record and shared record; near=near does not match; the
// rendezvous rules of issue 16's disagreements #1 and #3.
func TestRendezvousFlow(t *testing.T) {
	relay := startRelay(t)
	ep := epochNow()

	t.Run("match both sides", func(t *testing.T) {
		a := newClient(t, relay, "quic").open(rendezvousID)
		b := newClient(t, relay, "tcp").open(rendezvousID)
		x := uniq()
		reqA := ann(ep, "share-A", here(x))
		reqA.GetAnnounce().SharedRecord = []byte("shared-A")
		if r := a.rv(reqA).GetAnnounce(); r.GetAccepted() != 1 || len(r.Matches) != 0 {
			t.Fatalf("a: %v", r)
		}
		reqB := ann(ep, "share-B", near(x))
		reqB.GetAnnounce().SharedRecord = []byte("shared-B")
		r := b.rv(reqB).GetAnnounce()
		if r.GetAccepted() != 1 || len(r.Matches) != 1 {
			t.Fatalf("b: %v", r)
		}
		m := r.Matches[0]
		if m.Epoch != ep || !bytes.Equal(m.Token, tok(x)) || string(m.SealedRecord) != "share-A" || string(m.SharedRecord) != "shared-A" {
			t.Fatalf("b's match %v", m)
		}
		pushed := a.rvResp()
		pm := pushed.GetMatch()
		if pushed.Id != 0 || pm == nil || string(pm.SealedRecord) != "share-B" || string(pm.SharedRecord) != "shared-B" {
			t.Fatalf("a's pushed match %v", pushed)
		}
	})

	t.Run("near=near does not match", func(t *testing.T) {
		a := newClient(t, relay, "quic").open(rendezvousID)
		b := newClient(t, relay, "quic").open(rendezvousID)
		x := uniq()
		a.rv(ann(ep, "A", near(x)))
		if r := b.rv(ann(ep, "B", near(x))).GetAnnounce(); r.GetAccepted() != 1 || len(r.Matches) != 0 {
			t.Fatalf("near=near matched: %v", r)
		}
	})

	t.Run("near re-announced as here becomes here", func(t *testing.T) {
		a := newClient(t, relay, "quic").open(rendezvousID)
		b := newClient(t, relay, "tcp").open(rendezvousID)
		x, y := uniq(), uniq()
		a.rv(ann(ep, "A", near(x), near(y)))
		b.rv(ann(ep, "B", near(x)))
		// a moves: x is now its own cell. accepted counts the upgrade.
		r := a.rv(ann(ep, "A2", here(x))).GetAnnounce()
		if r.GetAccepted() != 1 || len(r.Matches) != 1 || string(r.Matches[0].SealedRecord) != "B" {
			t.Fatalf("upgrade: %v", r)
		}
		if m := b.rvResp().GetMatch(); m == nil || string(m.SealedRecord) != "A2" {
			t.Fatalf("b's pushed match: %v", m)
		}
		// Both kinds in one Announce count as here; a later near
		// announcement from another session matches.
		c := newClient(t, relay, "quic").open(rendezvousID)
		c.rv(ann(ep, "C", near(y), here(y)))
		d := newClient(t, relay, "tcp").open(rendezvousID)
		if r := d.rv(ann(ep, "D", near(y))).GetAnnounce(); len(r.Matches) != 1 || string(r.Matches[0].SealedRecord) != "C" {
			t.Fatalf("later near: %v", r)
		}
	})

	t.Run("withdraw drops every stream of the connection", func(t *testing.T) {
		cl := newClient(t, relay, "tcp")
		s1, s2 := cl.open(rendezvousID), cl.open(rendezvousID)
		x, y := uniq(), uniq()
		s1.rv(ann(ep, "A", here(x)))
		s2.rv(ann(ep, "A", here(y)))
		r := s1.rv(&pb.RendezvousRequest{Body: &pb.RendezvousRequest_Withdraw{Withdraw: &pb.Withdraw{}}})
		if r.GetWithdraw().GetDropped() != 2 {
			t.Fatalf("withdraw: %v", r)
		}
		f := newClient(t, relay, "quic").open(rendezvousID)
		if r := f.rv(ann(ep, "F", here(x), here(y))).GetAnnounce(); len(r.Matches) != 0 {
			t.Fatalf("withdrawn entries matched: %v", r)
		}
	})
}
