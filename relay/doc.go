// Package relay is an Imigee relay: a libp2p host that keeps sealed blobs
// for offline recipients, runs the publish-only proximity rendezvous in
// memory, gossips rendezvous announcements to the other relays of its
// network, and helps NAT'd phones reach each other (circuit relay v2,
// AutoNAT service). It never holds a key that opens anything it stores.
//
// # Using it
//
//	cfg := relay.DefaultConfig()      // every default spelled out
//	cfg.Identity = key                // persistent libp2p key (nil: ephemeral)
//	r, err := relay.New(cfg)          // validates, opens the store, builds the host
//	err = r.Start(ctx)                // listens, serves, joins gossip, dials Peers
//	...
//	err = r.Shutdown(ctx)             // SIGTERM: drain in-flight requests, close
//
// Config is a plain struct with TOML tags; Duration fields read "10m".
// MetricsRegistry holds the relay's and libp2p's Prometheus metrics; Ready
// backs a readiness probe.
//
// # Services
//
// Mailbox (protocol.MailboxProtocol): a stream carries sequential requests,
// each answered in order with the request's id. Put stores a blob durably
// (group-committed and fsynced by relay/store) before answering, then
// offers a Notify to subscribers of the mailbox. Fetch, Ack, Subscribe and
// Forget carry one MailboxAuth per mailbox, signed over a challenge the
// relay issued on the same stream: a challenge is 32 random bytes, valid
// for Limits.ChallengeTTL, used at most once (consumed by any attempt, so
// a replay or a second guess gets UNAUTHORIZED). After Subscribe the relay
// pushes Notify frames (id 0) on that stream; the result says how many
// blobs are already pending so a reconnecting recipient lists them.
//
// Rendezvous (protocol.RendezvousProtocol): each stream is one session of
// the relay/rendezvous engine. Announce returns the matches found at once;
// matches found later (another session announcing the same token) are
// pushed as Match frames (id 0). Withdraw on any rendezvous stream of the
// connection and Forget on the same connection drop the entries of every
// rendezvous session of that connection; the stream's end drops its own
// session's entries; each is withdrawn by gossip at the other relays too.
//
// History (historysvc.go, relay/history; issue 10): with
// Config.History.Window > 0 (default 72 h) every accepted live Announce is
// also written to history.db before it is answered; a late_announce (a past
// epoch the phone had no relay in) is checked against the window, the
// epoch length and the late budgets (per connection, per /24 or /48 prefix
// and UTC day), matched against the history only, stored and gossiped with
// late set; history_forget erases by per-epoch secret here and by gossip at
// the network. Gossiped live and late announcements and forgets go to one
// writer goroutine that commits them in batches (up to historyBatch
// writes, at most gossipHistoryDelay, 1 s, after a batch's first); it owns
// the gossip message's memory reservation until written. Whole epochs expire on the
// sweep ticker. Past history.fair_share_above of max_bytes, a source that
// stored its day's fair share stores no more.
//
// Push (protocol.PushProtocol, push.go): a phone going to sleep registers
// an opaque push endpoint for mailboxes it proves it controls (the
// subscription proof); a put into such a mailbox with no live subscriber
// makes the relay POST an empty wake-up, only to hosts on
// Config.Push.AllowHosts (off when empty), bounded in concurrency, time
// and rate per endpoint. Registrations live in memory only. Tests:
// TestPushRegistrationNeedsProof (a client lying about a mailbox is
// refused; an endpoint off the allow-list too; one wake-up per put, the
// next rate-limited and counted), TestPushRegistrationsPerSource,
// TestPushSkippedWhileSubscribed,
// TestPushOffByDefault; node/mobile TestPushWakesBackgroundedNode,
// TestPushOnlyToAllowedHosts.
//
// Gossip: relays of one network join the gossipsub topic
// protocol.GossipTopic + "/" + Config.Network and publish every local
// announcement (with a random per-session origin, never a client identity)
// and every withdrawal (batched: gossip_out.go). They also listen, never
// publish, on protocol.GossipTopicV1, the topic of relays before batches,
// so a rolling upgrade keeps hearing them (TestGossipHearsPreBatchRelays).
// Only relays named in Config.Peers may take part:
// a subscription filter keeps every other peer (a phone speaking pubsub)
// out of the topic, so it can neither read announcements, which would be a
// silent probe, nor receive any; a validator rejects messages from
// untrusted peers (which would dodge the token budget) and anything that
// does not pass protocol.DecodeGossipBatch, so bad gossip is neither
// applied nor forwarded. What a relay gossips leaves in batches
// (gossip_out.go): one pubsub message per gossipBatchDelay (250 ms) or
// full batch, items in order; docs/relay.md "Gossip batches". Remote announcements are matched like local ones and each
// relay notifies only its own clients: the relay of the other side computes
// the same match from the gossip it receives, so both sides hear of it.
// Gossipsub forwards along its mesh, which forms on heartbeats (~1 s) after
// relays connect: announcements published before then reach direct
// neighbours only; clients re-announce every epoch.
//
// # Concurrency
//
// libp2p runs each stream handler in its own goroutine; the relay counts
// them and Close waits for them. Every service stream has one writer
// goroutine (stream.go, tailscale derp's pattern): the request loop and
// the stream's pusher hand it encoded frames through a bounded queue, it
// writes each in 64 KiB chunks under Limits.WriteTimeout, and no lock is
// ever held across a network write (a mutex-guarded writer was issue 14's
// simnet hang). A subscribed mailbox stream and every rendezvous stream
// own one pusher goroutine that drains a bounded queue (Limits.NotifyQueue,
// Limits.MatchQueue). The put path and the matcher never block on a slow
// client: a full queue drops the push and counts it
// (imigee_relay_drops_total{reason}), since the client lists on reconnect.
// Relay owns one background goroutine (peer redial, rendezvous sweep,
// admission sweep), the gossip loop and the gossip publisher; all stop on
// Close. Shutdown stops
// new streams and requests (UNAVAILABLE), waits for in-flight requests so
// every acknowledged put is durable, then closes. TestMain runs goleak over
// every test.
//
// # Abuse resistance (issue 17)
//
// serve.go is the one request loop: per frame, a cap by body type
// (protocol.BodyCaps: only Put and Announce may be large), read_timeout
// from the frame's first byte, a rate charge per frame and per 64 KiB
// before decoding, a pre-scan that counts repeated fields and nesting
// (protocol.Scan), then decode and validation; any failure there is an
// id-0 error and the stream's end. memory.go is the one memory budget
// (Limits.MemoryBudget, per connection and per source address): partial
// frames, queued responses, fetch batches, rendezvous entries and records
// (charged to the announcing connection, released on withdraw, close or
// expiry) and gossip (gossip_mem.go: validated messages until applied, and
// remote sessions' entries, on the forwarding peer relay's share of at
// most half the budget; RPCs queued for sending until written, new gossip
// ignored while they hold a quarter) are reserved before they are
// allocated; a refusal is UNAVAILABLE. The contacts service runs its own loop
// (relay/contacts/serve.go) under the same rate limiter and budget;
// analytics and push streams are admitted whole (admitOneShot; push auths
// are then charged one unit per mailboxPerUnit, as on mailbox streams). admission.go keeps
// the store fair: a put allowance per source address, a share of it per
// connection, and a per-mailbox fair share when the store is nearly full. conns.go caps rendezvous entries per
// connection and per source. docs/relay.md ("Memory budget", "What an
// attacker can still do") has the figures.
//
// # Limits
//
// Every limit a stranger can hit is a Config field with its default in the
// comment: frame caps (protocol.Max*), the relay's blob cap and quotas
// (Store), a token-bucket request rate per connection shared by its streams
// (Limits.RequestsPerSecond/RequestBurst; large requests cost more), streams
// per connection, outstanding challenges per stream, idle, read and write
// time-outs, push queues, rendezvous memory (entries and record bytes) and
// a per-session token budget per epoch, live entries per connection and
// per source, the memory budget, put allowances, remote gossip sessions, and the
// libp2p resource manager (explicit scaled limits, per-protocol stream caps;
// see host.go) and connection manager watermarks. A refused request changes
// nothing and gets a pb.Error with a code from the closed list; a malformed
// frame gets an error frame with id 0 and the stream is closed.
//
// # What the relay sees (threat model)
//
// Sealed blobs, their sizes and arrival times, mailbox IDs (per pair, per
// direction, per UTC day: unlinkable across days and senders until the
// recipient proves several at once by fetching), the public keys that
// prove mailboxes, proximity tokens and sealed records, connection
// addresses and rotating transport peer IDs. It never learns content,
// senders (Put is anonymous), locations or friendships. It does not log
// mailbox IDs, tokens, peer IDs of clients, addresses or content, and its
// metrics have only closed-list labels. Live rendezvous state is memory
// only and dies with its epoch window (at most two epochs plus the skew);
// with history on, copies of announcements (tokens, sealed records, forget
// tags, random session origins) stay in history.db for the window, sealed
// under per-epoch keys erased when the epoch leaves it (relay/history).
// Relays of one network see each other's tokens through gossip.
//
// # Which tests prove the design's properties
//
//   - P1 (no plaintext at the relay): the relay only stores what clients
//     seal; TestMetricsAggregateOnly checks its logs hold no identifiers.
//     The end-to-end marker test over the database file and heap lives with
//     the daemon (test/).
//   - P2 (delete on ack, offered again until then, 30-day cap):
//     TestPutNotifyFetchAckGone, TestOfflineRecipientGetsEverything,
//     relayclient TestDeliveryFlow and TestReconnectListsEverything; the
//     30-day expiry is relay/store's TestRetentionThirtyDays (injected
//     clock); TestShutdownKeepsEveryAcknowledgedPut (graceful stop under
//     load loses no acknowledged blob).
//   - P8 (forget): TestForgetRemovesMailboxesAndRendezvous, relayclient
//     TestRendezvousSessions.
//   - P10 (aggregate metrics, no identifiers in logs):
//     TestMetricsAggregateOnly.
//   - P12 (sealed sender, rotating identity): Put carries no sender and the
//     relay keys state by connection, never by peer ID; rendezvous gossip
//     carries a random origin per session.
//   - Rendezvous: TestRendezvousMatchBothSides, TestRendezvousLimits,
//     TestRendezvousRetention, TestWithdrawWholeConnection (QUIC and TCP),
//     TestGossipNearBecomesHere,
//     TestGossipThreeRelays,
//     TestGossipRejectsUntrusted; the relays' mesh degree (gossipD, see
//     docs/relay.md "Gossip mesh degree"): TestGossipLinksDown (delivery
//     to every relay with the publisher's links mostly down),
//     TestGossipFewDuplicates (duplicate copies bounded; fails with
//     gossipsub's default degree); bad input:
//     TestBadRequestsChangeNothing, TestBadFrames, TestRateLimit,
//     TestGlobalQuota and the
//     fuzz targets FuzzMailboxStream, FuzzRendezvousStream, FuzzGossip.
//   - History (issue 10; history_test.go, history_limits_test.go):
//     TestLateMatchesHistory (QUIC and TCP), TestLateStaleAndOff,
//     TestHistoryForget, TestGossipLateMatch, TestHistoryRestart,
//     TestLateBudgetsAgainstALiar, TestLateHugeBatchMemory,
//     TestHistoryFullKeepsLiveMatching, TestGossipHistoryQueueFull,
//     TestHistoryConfigBounds, TestHistoryFairShare; kill -9 of the daemon is
//     test/relaye2e TestHistoryKill9.
//   - Abuse (issue 17, limits_test.go, admission_test.go):
//     TestOversizeFrameClosesStream and TestStreamErrorClosesStream (id-0
//     error, then the stream closes), TestStartedFrameMustFinish
//     (read_timeout on subscribed streams too), TestRateLimitVoidsChallenges,
//     TestMemoryBudgetRefusesCleanly, TestPutAllowancePerSource,
//     TestPutAllowancePerConn, TestFairShareWhenNearlyFull; one memory
//     budget (rvmemory_test.go, svclimits_test.go):
//     TestRendezvousMemoryBudget (records refused at the connection's
//     share, reservations back to baseline after withdraw, expiry, stream
//     end), TestGossipMemoryBudget, TestGossipOutboundCharged,
//     TestGossipThreeRelays (budgets back to zero on all three relays),
//     TestContactsRateCharged,
//     TestContactsMemoryReserved, TestAnalyticsOneShotAdmitted, and
//     relay/rendezvous TestAccountedSession; the attacks against the
//     daemon are test/relayabuse.
//
// Benchmarks (one `go test -bench . ./relay/` run): BenchmarkIngest (1 KiB
// durable puts from 64 streams over QUIC and TCP) beside its raw baselines
// BenchmarkBaselineBoltBatchDefault and BenchmarkBaselineBoltBatch64,
// BenchmarkDrain (IMIGEE_BENCH_DRAIN=100000 for the full figure) and
// BenchmarkRendezvousAnnounce; the engine's own are in relay/rendezvous.
package relay
