// Package relayclient is the client side of the relay's mailbox and
// rendezvous protocols over a libp2p host: what a phone (package node) and
// end-to-end tests use to talk to one relay. It never imports the relay.
//
//	c := relayclient.New(h, relayAddrInfo, relayclient.Config{})
//	id, err := c.Put(ctx, mbox, sealed)                 // durable at the relay on return
//	sub, err := c.Subscribe(ctx, keys, onNotify)         // sub.Pending: list those first
//	blobs, more, err := c.Fetch(ctx, keys, relayclient.FetchOptions{})
//	n, err := c.Ack(ctx, keys, refs)                     // deletes at once
//	rv, err := c.Rendezvous(ctx, onMatch)
//	accepted, matches, err := rv.Announce(ctx, 600, epoch, anns)
//
// Mailbox keys are the per-pair, per-direction, per-day Ed25519 keys of
// crypto.PairKeys.MailboxKey; the client proves them by signing the relay's
// stream-bound challenge (crypto.SignMailboxAuth) for each request.
//
// Streams: request/response calls share a pool of long-lived mailbox
// streams (Config.MaxStreams, default 16), one request at a time per stream:
// reusing a stream costs ~25 µs per round trip against ~92 µs for a new
// stream (BASELINES.md), and parallel streams let concurrent puts share the
// relay's group commits. A stream that fails is reset, never reused. A
// pooled stream whose connection closed while it sat idle (the relay
// restarted, the network dropped) is dropped when taken from the pool, and
// a request whose pooled stream breaks before the relay answered gets one
// more try on a new stream (for Fetch, Ack and Forget only when it broke
// at the challenge); so the first request after a relay restart does not
// fail. In the rare case the relay acted on the first try, a Put is stored
// twice: recipients drop duplicates.
// Subscribe and Rendezvous each own a stream and one goroutine reading it
// (plus, for Subscribe, a keep-alive ticker so the relay does not close the
// stream as idle); they stop on ctx, Close, or the stream's end, when Done
// is closed and Err says why. Callbacks run on that goroutine: keep them
// short (the relay drops pushes for a slow reader; re-list on reconnect).
// Client.Close closes everything and waits.
//
// Errors from the relay are *protocol.Error values: branch with errors.Is
// against protocol.ErrQuotaExceeded, ErrTooLarge, ErrRateLimited,
// ErrUnauthorized, ErrStale, ErrUnavailable. Reconnection policy (backoff,
// relay fallback) belongs to the caller.
//
// Tests (package relayclient_test, against a real relay over QUIC and TCP):
// TestDeliveryFlow and TestReconnectListsEverything (P2),
// TestRendezvousSessions (matches both ways, P8 forget),
// TestErrorsAreProtocolErrors, TestRelayShutdownEndsSessions,
// TestRelayRestartKeepsClientWorking (stale pooled streams after a relay
// restart; a put acknowledged before it is still there).
package relayclient
