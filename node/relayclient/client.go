package relayclient

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	lprotocol "github.com/libp2p/go-libp2p/core/protocol"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// Defaults of Config.
const (
	// DefaultMaxStreams caps the pooled request streams to one relay: 16.
	// The relay answers one request at a time per stream, so concurrent
	// puts need parallel streams to share the relay's group commits.
	DefaultMaxStreams = 16
	// DefaultTimeout bounds one request when ctx has no deadline: 30 s.
	DefaultTimeout = 30 * time.Second
	// DefaultKeepAlive is how often an otherwise silent subscription or
	// rendezvous stream sends a cheap request so the relay does not close
	// it as idle (the relay's default is 30 min): 10 min.
	DefaultKeepAlive = 10 * time.Minute
)

// Sentinel errors. Relay-side failures are *protocol.Error values: branch
// with errors.Is(err, protocol.ErrQuotaExceeded) and friends.
var (
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("relayclient: closed")
	// ErrTooManyKeys: more mailbox keys than one request may carry
	// (protocol.MaxAuthsPerRequest).
	ErrTooManyKeys = errors.New("relayclient: too many mailbox keys")
	// ErrBadResponse: the relay answered with something unexpected.
	ErrBadResponse = errors.New("relayclient: unexpected response")
)

// Config configures a Client. Zero fields take defaults.
type Config struct {
	// MaxStreams caps pooled request streams. Default DefaultMaxStreams.
	MaxStreams int
	// Timeout bounds a request whose ctx has no deadline. Default DefaultTimeout.
	Timeout time.Duration
	// KeepAlive is the keep-alive period of subscriptions. Default
	// DefaultKeepAlive.
	KeepAlive time.Duration
}

// BlobID names a blob at a relay (16 bytes, time-ordered).
type BlobID [protocol.BlobIDSize]byte

// Ref names one blob of one mailbox, for Ack.
type Ref struct {
	Mailbox crypto.MailboxID
	ID      BlobID
}

// Blob is a pending blob. Data is nil when listed without data.
type Blob struct {
	Mailbox  crypto.MailboxID
	ID       BlobID
	Data     []byte
	Size     int
	Received time.Time
}

// Ref returns the blob's reference for Ack.
func (b Blob) Ref() Ref { return Ref{Mailbox: b.Mailbox, ID: b.ID} }

// Notify says a new blob arrived in a subscribed mailbox.
type Notify struct {
	Mailbox crypto.MailboxID
	ID      BlobID
	Size    int
}

// Client talks to one relay over a libp2p host. It is safe for concurrent
// use. Request/response calls share a pool of long-lived streams (one
// request at a time per stream); Subscribe and Rendezvous sessions get a
// stream of their own.
type Client struct {
	h     host.Host
	relay peer.ID
	cfg   Config

	pool chan *reqStream // idle streams
	sem  chan struct{}   // one token per open pooled stream

	mu     sync.Mutex // guards closed and subs
	closed bool
	subs   map[closer]struct{}
	done   chan struct{}
}

type closer interface{ Close() error }

// New returns a client for the relay at ai; its addresses go into the
// host's peerstore so streams can dial it.
func New(h host.Host, ai peer.AddrInfo, cfg Config) *Client {
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if len(ai.Addrs) > 0 {
		h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	}
	return &Client{
		h:     h,
		relay: ai.ID,
		cfg:   cfg,
		pool:  make(chan *reqStream, cfg.MaxStreams),
		sem:   make(chan struct{}, cfg.MaxStreams),
		subs:  make(map[closer]struct{}),
		done:  make(chan struct{}),
	}
}

// Relay returns the relay's peer ID.
func (c *Client) Relay() peer.ID { return c.relay }

// Close closes pooled streams, subscriptions and rendezvous sessions and
// waits for their goroutines. It is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	subs := make([]closer, 0, len(c.subs))
	for s := range c.subs {
		subs = append(subs, s)
	}
	c.mu.Unlock()
	for _, s := range subs {
		_ = s.Close()
	}
	for {
		select {
		case rs := <-c.pool:
			_ = rs.s.Close()
		default:
			return nil
		}
	}
}

func (c *Client) track(s closer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.subs[s] = struct{}{}
	return nil
}

func (c *Client) untrack(s closer) {
	c.mu.Lock()
	delete(c.subs, s)
	c.mu.Unlock()
}

// reqStream is one pooled mailbox stream.
type reqStream struct {
	s      network.Stream
	r      *protocol.Reader
	w      *protocol.Writer
	nextID uint64
}

func (c *Client) openStream(ctx context.Context, proto string, max int) (network.Stream, *protocol.Reader, error) {
	s, err := c.h.NewStream(ctx, c.relay, lprotocol.ID(proto))
	if err != nil {
		return nil, nil, fmt.Errorf("relayclient: open stream: %w", err)
	}
	return s, protocol.NewReader(s, max), nil
}

// get returns an idle pooled stream (pooled true) or opens one. Pooled
// streams whose connection has closed (the relay restarted, the network
// dropped while they sat idle) are discarded on the way.
func (c *Client) get(ctx context.Context) (rs *reqStream, pooled bool, err error) {
	for {
		select {
		case <-c.done:
			return nil, false, ErrClosed
		case rs := <-c.pool:
			if c.stale(rs) {
				continue
			}
			return rs, true, nil
		default:
		}
		select {
		case <-c.done:
			return nil, false, ErrClosed
		case rs := <-c.pool:
			if c.stale(rs) {
				continue
			}
			return rs, true, nil
		case c.sem <- struct{}{}:
			s, r, err := c.openStream(ctx, protocol.MailboxProtocol, protocol.MaxMailboxResponse)
			if err != nil {
				<-c.sem
				return nil, false, err
			}
			return &reqStream{s: s, r: r, w: protocol.NewWriter(s)}, false, nil
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// stale drops a pooled stream whose connection is gone and reports so.
func (c *Client) stale(rs *reqStream) bool {
	if !rs.s.Conn().IsClosed() {
		return false
	}
	_ = rs.s.Reset()
	<-c.sem
	return true
}

// put returns a healthy stream to the pool; a broken one is reset.
func (c *Client) put(rs *reqStream, ok bool) {
	if !ok {
		_ = rs.s.Reset()
		<-c.sem
		return
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		_ = rs.s.Close()
		<-c.sem
		return
	}
	c.pool <- rs
}

// roundTrip sends req on rs and reads its response. A relay error comes
// back as a *protocol.Error; a transport or framing error breaks rs.
func (c *Client) roundTrip(ctx context.Context, rs *reqStream, req *pb.MailboxRequest) (*pb.MailboxResponse, bool, error) {
	rs.nextID++
	req.Id = rs.nextID
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(c.cfg.Timeout)
	}
	_ = rs.s.SetDeadline(dl)
	if err := rs.w.WriteMsg(req); err != nil {
		return nil, false, fmt.Errorf("relayclient: send: %w", err)
	}
	resp := &pb.MailboxResponse{}
	if err := rs.r.ReadMsg(resp); err != nil {
		return nil, false, fmt.Errorf("relayclient: receive: %w", err)
	}
	if err := protocol.ValidateMailboxResponse(resp); err != nil {
		return nil, false, fmt.Errorf("relayclient: receive: %w", err)
	}
	if resp.Id != req.Id {
		// Id 0 with an error is the relay closing the stream on a framing
		// error; anything else is out of step.
		if resp.Error != nil {
			return nil, false, protocol.FromPB(resp.Error)
		}
		return nil, false, ErrBadResponse
	}
	if resp.Error != nil {
		// After RATE_LIMITED the stream is dropped, not pooled: the relay
		// voided its challenges, and a fresh stream after the caller's
		// back-off starts clean.
		return nil, resp.Error.Code != pb.ErrorCode_RATE_LIMITED, protocol.FromPB(resp.Error)
	}
	return resp, true, nil
}

// do runs one request on a pooled stream. A pooled stream that breaks
// (its connection died while it sat idle, before the relay read the
// request, as after a relay restart) costs one more try on a new stream;
// in the rarer case that the relay did act on the first try, the request
// runs twice: Fetch, Ack and Forget are idempotent, and a Put stored twice
// is a duplicate blob the recipient drops (it delivers exactly once).
func (c *Client) do(ctx context.Context, req *pb.MailboxRequest) (*pb.MailboxResponse, error) {
	for try := 0; ; try++ {
		rs, pooled, err := c.get(ctx)
		if err != nil {
			return nil, err
		}
		resp, ok, err := c.roundTrip(ctx, rs, req)
		c.put(rs, ok)
		if ok || !pooled || try > 0 || ctx.Err() != nil || errors.Is(err, protocol.ErrRateLimited) {
			return resp, err
		}
	}
}

// doAuthed gets a challenge and runs the request built by mk on the same
// stream (challenges are bound to their stream). A broken pooled stream
// costs one more try, as in do.
func (c *Client) doAuthed(ctx context.Context, mk func(challenge []byte) *pb.MailboxRequest) (*pb.MailboxResponse, error) {
	for try := 0; ; try++ {
		rs, pooled, err := c.get(ctx)
		if err != nil {
			return nil, err
		}
		resp, ok, err := c.roundTrip(ctx, rs, &pb.MailboxRequest{Body: &pb.MailboxRequest_Challenge{Challenge: &pb.ChallengeRequest{}}})
		challenged := ok
		if err == nil {
			ch := resp.GetChallenge()
			if ch == nil {
				ok, err = false, ErrBadResponse
			} else {
				resp, ok, err = c.roundTrip(ctx, rs, mk(ch.Nonce))
			}
		}
		c.put(rs, ok)
		// Retry only when the stream broke at the challenge: after it, the
		// relay may have acted on the request.
		if challenged || !pooled || try > 0 || ctx.Err() != nil || errors.Is(err, protocol.ErrRateLimited) {
			return resp, err
		}
	}
}

// auths signs challenge for op with every key.
func auths(keys []ed25519.PrivateKey, op crypto.MailboxOp, challenge []byte) ([]*pb.MailboxAuth, error) {
	if len(keys) == 0 || len(keys) > protocol.MaxAuthsPerRequest {
		return nil, fmt.Errorf("relayclient: %d keys (1..%d): %w", len(keys), protocol.MaxAuthsPerRequest, ErrTooManyKeys)
	}
	out := make([]*pb.MailboxAuth, len(keys))
	for i, k := range keys {
		id, sig := crypto.SignMailboxAuth(k, op, challenge)
		out[i] = &pb.MailboxAuth{MailboxId: id[:], Pub: k.Public().(ed25519.PublicKey), Sig: sig}
	}
	return out, nil
}
