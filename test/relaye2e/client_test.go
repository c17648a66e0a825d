package relaye2e

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// newClientHost returns a dial-only libp2p host for one test client.
func newClientHost() (host.Host, error) {
	return libp2p.New(libp2p.NoListenAddrs, libp2p.DisableMetrics(), libp2p.DisableRelay())
}

// mbConn is one mailbox stream to the relay, used sequentially (one
// request, one response). It is a deliberately small client written from
// the wire spec (protocol/pb/mailbox.proto), independent of node/relayclient.
type mbConn struct {
	s      network.Stream
	r      *protocol.Reader
	nextID uint64
}

func openMailbox(ctx context.Context, h host.Host, relay peer.AddrInfo) (*mbConn, error) {
	if err := h.Connect(ctx, relay); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	s, err := h.NewStream(ctx, relay.ID, protocol.MailboxProtocol)
	if err != nil {
		return nil, fmt.Errorf("open mailbox stream: %w", err)
	}
	return &mbConn{s: s, r: protocol.NewReader(s, protocol.MaxMailboxResponse)}, nil
}

func (c *mbConn) Close() error { return c.s.Close() }

// roundTrip sends req and returns the response with the same id, skipping
// pushed notifications (id 0).
func (c *mbConn) roundTrip(req *pb.MailboxRequest) (*pb.MailboxResponse, error) {
	c.nextID++
	req.Id = c.nextID
	_ = c.s.SetDeadline(time.Now().Add(20 * time.Second))
	if err := protocol.WriteMsg(c.s, req); err != nil {
		return nil, err
	}
	for {
		var resp pb.MailboxResponse
		if err := c.r.ReadMsg(&resp); err != nil {
			return nil, err
		}
		if resp.Id == 0 {
			continue
		}
		if resp.Id != req.Id {
			return nil, fmt.Errorf("response id %d for request %d", resp.Id, req.Id)
		}
		if resp.Error != nil {
			return &resp, protocol.FromPB(resp.Error)
		}
		return &resp, nil
	}
}

// put stores blob in mailbox and returns the relay-assigned blob ID once the
// relay acknowledged it (durably stored).
func (c *mbConn) put(mailbox crypto.MailboxID, blob []byte) ([]byte, error) {
	pr, err := c.putResult(mailbox, blob)
	if err != nil {
		return nil, err
	}
	return pr.BlobId, nil
}

// putResult is put returning the whole PutResult (blob ID and expiry).
func (c *mbConn) putResult(mailbox crypto.MailboxID, blob []byte) (*pb.PutResult, error) {
	resp, err := c.roundTrip(&pb.MailboxRequest{Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: mailbox[:], Blob: blob}}})
	if err != nil {
		return nil, err
	}
	pr := resp.GetPut()
	if pr == nil || len(pr.BlobId) != protocol.BlobIDSize {
		return nil, errors.New("put: response without a blob id")
	}
	return pr, nil
}

func (c *mbConn) challenge() ([]byte, error) {
	resp, err := c.roundTrip(&pb.MailboxRequest{Body: &pb.MailboxRequest_Challenge{Challenge: &pb.ChallengeRequest{}}})
	if err != nil {
		return nil, err
	}
	if resp.GetChallenge() == nil {
		return nil, errors.New("challenge: empty response")
	}
	return resp.GetChallenge().Nonce, nil
}

func auth(priv ed25519.PrivateKey, op crypto.MailboxOp, nonce []byte) *pb.MailboxAuth {
	id, sig := crypto.SignMailboxAuth(priv, op, nonce)
	return &pb.MailboxAuth{MailboxId: id[:], Pub: priv.Public().(ed25519.PublicKey), Sig: sig}
}

// fetchAll returns every pending blob of the mailbox of priv, following
// the "more" cursor.
func (c *mbConn) fetchAll(priv ed25519.PrivateKey) ([]*pb.Blob, error) {
	var out []*pb.Blob
	var after []byte
	for {
		nonce, err := c.challenge()
		if err != nil {
			return nil, err
		}
		resp, err := c.roundTrip(&pb.MailboxRequest{Body: &pb.MailboxRequest_Fetch{Fetch: &pb.Fetch{
			Challenge:   nonce,
			Auth:        []*pb.MailboxAuth{auth(priv, crypto.OpFetch, nonce)},
			AfterBlobId: after,
		}}})
		if err != nil {
			return nil, fmt.Errorf("fetch: %w", err)
		}
		fr := resp.GetFetch()
		if fr == nil {
			return nil, errors.New("fetch: empty response")
		}
		out = append(out, fr.Blobs...)
		if !fr.More || len(fr.Blobs) == 0 {
			return out, nil
		}
		after = fr.Blobs[len(fr.Blobs)-1].BlobId
	}
}

// ack deletes blobs of the mailbox of priv.
func (c *mbConn) ack(priv ed25519.PrivateKey, blobIDs [][]byte) (uint32, error) {
	nonce, err := c.challenge()
	if err != nil {
		return 0, err
	}
	mb := crypto.MailboxIDFromPub(priv.Public().(ed25519.PublicKey))
	refs := make([]*pb.BlobRef, len(blobIDs))
	for i, id := range blobIDs {
		refs[i] = &pb.BlobRef{MailboxId: mb[:], BlobId: id}
	}
	resp, err := c.roundTrip(&pb.MailboxRequest{Body: &pb.MailboxRequest_Ack{Ack: &pb.Ack{
		Challenge: nonce,
		Auth:      []*pb.MailboxAuth{auth(priv, crypto.OpAck, nonce)},
		Blobs:     refs,
	}}})
	if err != nil {
		return 0, fmt.Errorf("ack: %w", err)
	}
	return resp.GetAck().GetDeleted(), nil
}

// subscribe asks for pushed notifications of the mailbox of priv and
// returns the number of pending blobs.
func (c *mbConn) subscribe(priv ed25519.PrivateKey) (uint32, error) {
	nonce, err := c.challenge()
	if err != nil {
		return 0, err
	}
	resp, err := c.roundTrip(&pb.MailboxRequest{Body: &pb.MailboxRequest_Subscribe{Subscribe: &pb.Subscribe{
		Challenge: nonce,
		Auth:      []*pb.MailboxAuth{auth(priv, crypto.OpSubscribe, nonce)},
	}}})
	if err != nil {
		return 0, fmt.Errorf("subscribe: %w", err)
	}
	return resp.GetSubscribe().GetPending(), nil
}
