package contacts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// ErrWrongKey means a relay announced an OPRF public key other than the one
// the network configuration (or the pinned first sight) names for its
// stage: it may be trying to split users onto its own key.
var ErrWrongKey = errors.New("contacts: relay's contact key differs from the published one")

// Stream is what a Client needs (a libp2p network.Stream).
type Stream interface {
	io.ReadWriter
	SetDeadline(time.Time) error
}

// Client speaks /imigee/contacts/1 on one stream, one request at a time.
type Client struct {
	s       Stream
	c       *counted
	id      uint64
	timeout time.Duration
	// PoWStart is where proof-of-work searches begin (tests set it; 0 is fine).
	PoWStart uint64
}

// counted counts the bytes that cross a stream (for data-use figures).
type counted struct {
	Stream
	up, down int64
}

func (c *counted) Write(p []byte) (int, error) {
	n, err := c.Stream.Write(p)
	c.up += int64(n)
	return n, err
}

func (c *counted) Read(p []byte) (int, error) {
	n, err := c.Stream.Read(p)
	c.down += int64(n)
	return n, err
}

// NewClient wraps a stream; each request must be answered within timeout.
func NewClient(s Stream, timeout time.Duration) *Client {
	c := &counted{Stream: s}
	return &Client{s: c, c: c, timeout: timeout}
}

// Bytes returns the stream bytes sent and received so far.
func (c *Client) Bytes() (up, down int64) { return c.c.up, c.c.down }

func (c *Client) call(req *pb.ContactsRequest) (*pb.ContactsResponse, error) {
	c.id++
	req.Id = c.id
	_ = c.s.SetDeadline(time.Now().Add(c.timeout))
	if err := protocol.WriteMsg(c.s, req); err != nil {
		return nil, fmt.Errorf("contacts: send: %w", err)
	}
	resp := &pb.ContactsResponse{}
	if err := protocol.ReadContactsResponse(c.s, resp); err != nil {
		return nil, fmt.Errorf("contacts: read: %w", err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("contacts: relay: %w", protocol.FromPB(resp.Error))
	}
	if resp.Id != req.Id {
		return nil, fmt.Errorf("contacts: response id %d for request %d", resp.Id, req.Id)
	}
	return resp, nil
}

// Challenge asks for a fresh proof-of-work challenge (and the relay's key).
func (c *Client) Challenge() (*pb.ContactsChallenge, error) {
	r, err := c.call(&pb.ContactsRequest{Body: &pb.ContactsRequest_Challenge{Challenge: &pb.ContactsChallengeRequest{}}})
	if err != nil {
		return nil, err
	}
	if r.GetChallenge() == nil {
		return nil, fmt.Errorf("contacts: %w: no challenge in the answer", protocol.ErrBadRequest)
	}
	return r.GetChallenge(), nil
}

// Evaluate runs this relay's stage over inputs, in batches of the relay's
// max_batch, each with its own challenge and proof of work, and checks
// every answer's proof against pub. pub nil = accept the relay's announced
// key (the caller pins it) — the key used is returned.
func (c *Client) Evaluate(pub []byte, inputs [][]byte, rand io.Reader) (outputs [][]byte, key []byte, err error) {
	for len(inputs) > 0 {
		ch, err := c.Challenge()
		if err != nil {
			return nil, nil, err
		}
		if len(ch.PublicKey) == 0 {
			return nil, nil, fmt.Errorf("contacts: %w: relay holds no contact key", protocol.ErrUnsupported)
		}
		if pub != nil && !bytes.Equal(pub, ch.PublicKey) {
			return nil, nil, ErrWrongKey
		}
		pub = ch.PublicKey
		n := min(len(inputs), max(1, int(ch.MaxBatch)))
		b, blinded, err := crypto.BlindContacts(pub, inputs[:n], rand)
		if err != nil {
			return nil, nil, err
		}
		nonce, err := crypto.SolveContactPoW(ch.Nonce, blinded, int(ch.Difficulty), c.PoWStart)
		if err != nil {
			return nil, nil, err
		}
		r, err := c.call(&pb.ContactsRequest{Body: &pb.ContactsRequest_Evaluate{Evaluate: &pb.ContactEvaluate{Challenge: ch.Nonce, PowNonce: nonce, Blinded: blinded}}})
		if err != nil {
			return nil, nil, err
		}
		ev := r.GetEvaluate()
		if ev == nil {
			return nil, nil, fmt.Errorf("contacts: %w: no evaluation in the answer", protocol.ErrBadRequest)
		}
		out, err := b.Finalize(ev.Evaluated, ev.Proof)
		if err != nil {
			return nil, nil, fmt.Errorf("contacts: relay answer: %w", err)
		}
		outputs = append(outputs, out...)
		inputs = inputs[n:]
	}
	return outputs, pub, nil
}

// Post parks entries (in batches of protocol.MaxContactEntriesPerPost, each
// priced by a proof of work over its entry IDs) and returns the other
// posters' offers waiting under the same IDs.
func (c *Client) Post(entries []*pb.ContactEntry) ([]*pb.ContactMatch, error) {
	var matches []*pb.ContactMatch
	for len(entries) > 0 {
		n := min(len(entries), protocol.MaxContactEntriesPerPost)
		ch, err := c.Challenge()
		if err != nil {
			return matches, err
		}
		ids := make([][]byte, n)
		for i, e := range entries[:n] {
			ids[i] = e.EntryId
		}
		nonce, err := crypto.SolveContactPoW(ch.Nonce, ids, int(ch.Difficulty), c.PoWStart)
		if err != nil {
			return matches, err
		}
		r, err := c.call(&pb.ContactsRequest{Body: &pb.ContactsRequest_Post{Post: &pb.ContactPost{Challenge: ch.Nonce, PowNonce: nonce, Entries: entries[:n]}}})
		if err != nil {
			return matches, err
		}
		matches = append(matches, r.GetPost().GetMatches()...)
		entries = entries[n:]
	}
	return matches, nil
}

// Withdraw removes entries by their withdraw secrets and returns how many
// the relay held.
func (c *Client) Withdraw(ws []*pb.ContactWithdrawal) (int, error) {
	total := 0
	for len(ws) > 0 {
		n := min(len(ws), protocol.MaxContactWithdrawals)
		r, err := c.call(&pb.ContactsRequest{Body: &pb.ContactsRequest_Withdraw{Withdraw: &pb.ContactWithdraw{Entries: ws[:n]}}})
		if err != nil {
			return total, err
		}
		total += int(r.GetWithdraw().GetRemoved())
		ws = ws[n:]
	}
	return total, nil
}
