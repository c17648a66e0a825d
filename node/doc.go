// Package node is the embeddable Imigee library: one device's identity,
// friends, proximity engine, sharing, offline delivery and forget. Apps
// embed it directly (Go) or through node/mobile (gomobile).
//
// # Lifecycle
//
//	n, err := node.New(node.Config{DataDir: dir, StoreKey: key, Relays: relays, Events: h})
//	err = n.Start(ctx)   // libp2p host, relay sessions, background loop
//	...                  // Invite/Link, SetLocation, SharePhoto, Accept, ...
//	err = n.Close()      // stops every goroutine, closes host and store
//
// New opens the encrypted store (node/localstore) and loads or creates the
// device identity; it does no network I/O. Start builds a libp2p host (QUIC
// and TCP, hole punching, circuit relay client), connects to each relay,
// reserves a circuit slot there (explicit reservations, not autorelay, so a
// friend can always reach the device through its relay), subscribes to
// today's mailboxes and catches up on the mailboxes of every day since the
// last successful fetch (at most the retention window). Forget is the
// other way out: it closes the node for good.
//
// # Flows (DESIGN.md flows 1–5)
//
// Link: Invite returns text (also the QR payload) holding the signed device
// card, a single-use 32-byte secret, its expiry, the current transport
// addresses (direct and relay-circuit) and the inviter's relays, all signed
// by the card's key. Link
// dials the inviter on /imigee/link/1 and sends a LinkRequest sealed
// (crypto envelope, sealed sender) to the inviter's box key with the
// requester's card, its relays and the secret; the inviter checks the
// secret, consumes the invite, stores the friend and answers with its own
// card and relays sealed back. Both derive pair keys with the secret mixed
// into the proximity chain. If the inviter cannot be reached, the
// requester parks the same sealed request in a mailbox derived from the
// invite secret at the inviter's relays (named in the invite) and stores
// the friend at once; the inviter fetches its unexpired invites' mailboxes
// first on every catch-up and completes the link then (see linkmailbox.go).
//
// Friends' relays (friendrelays.go): a device reads its mailboxes only at
// its own relays, so everything posted for a friend (items, receipts,
// rejections) goes to the friend's relays. Each side stores the other's
// relay addresses from the link, and refreshes them from the sealed
// contact envelope (prekey and relays) sent on every confirmed meeting;
// when a device's relay set changed since it last told a friend, it tells
// it on the next direct delivery (a session of its own) or ahead of the
// next mailbox item. Every put, at a friend's relay or the device's own,
// runs on a one-off transport identity of its own (see Transport
// identities below), bounded by MailboxPutTimeout and retried with the
// delivery back-off. A friend linked before relays were
// exchanged is posted to at the device's own relays until it tells its.
//
// Share: every share stream (/imigee/share/1) begins with both sides' Hello:
// a per-epoch pair hint and a proof over both transport peer IDs and both
// nonces (so a proof cannot be replayed on another connection). Then one
// request: an Envelope (message, like), an Offer, or a Resume. Photos and
// videos are read through node/scrub, which blanks the location the
// camera wrote into them in place (EXIF GPS IFD, XMP, ©xyz, Apple
// location keys; same size, capture time and orientation kept; no
// opt-out: P3), and sealed once into a pending copy in DataDir/outbox with a random
// content key (crypto STREAM chunks of 64 KiB; AES-256-GCM when this
// device and every recipient have AES hardware by their Hello caps, else
// XChaCha20-Poly1305: caps.go, TestStreamCipherFollowsCaps); each recipient gets its own
// sealed offer carrying that key. Sharing is asynchronous (sealing.go): the
// share call stores the outbox record and returns; a background job hashes
// the content (the offer names the hash), which makes the item
// deliverable, then seals it into the pending copy while the first
// deliveries already stream the chunks sealed so far (EventSealing reports
// its progress; CancelItem stops it and the transfers, and deletes the
// copy). The recipient applies its policy (ask: item_offered and a wait of
// up to OfferWait for Accept/Reject, and Accept replies on the waiting
// stream before committing the decision; auto-accept per friend), answers
// OfferReply{accept, from_chunk}, and writes opened chunks into a part file
// (reading and opening/writing overlap in two stages; each frame is read
// into a pooled buffer and a chunk is taken from it in place, without
// protobuf copying it: protocol.DecodePeerFrame; plaintext goes out in
// runs of 64 KiB: partwriter.go; a friend that lies there — chunks
// swapped, a false last flag, another item's chunk, an index past the
// end, a stream cut short — delivers nothing: TestLyingSenderChunks). The sender builds each batch of 16 chunk
// frames in one pooled buffer, reading the sealed chunks from the pending
// copy straight behind hand-written headers, and writes it once (send.go). It records the resume point every
// persistEvery chunks (after a data sync, on a goroutine beside the
// writer, so a slow disk does not stall the transfer) and whenever the
// stream ends; an
// auto-accepted offer on a live stream stores no record until then, so a
// small item costs one store commit (the delivery's). At the end it syncs
// the file, renames it into DataDir/media, syncs the directory, and only
// then signs a Receipt over the item ID and content hash. A resumed
// transfer starts after the last persisted resume point: chunks completed
// and persisted are never sent again, but chunks received after it (at
// most persistEvery-1) may be sent twice; the receiver writes them at the
// same offsets. A receiver that restarts (also after kill -9) pulls the
// rest of every accepted item when it next confirms its sender (a meeting
// or the sender's Hello on a new transport ID: resume.go); one stream per
// item receives at a time. Delivery to the app is exactly once: the seen
// mark and the inbox record are written in one transaction.
//
// Offline: when the friend cannot be dialled (a friend neither connected nor
// confirmed nearby gets DirectDialBudget, 2 s, for the direct attempt: its
// last transport ID is probably stale), the item goes to the pair's mailbox
// for today at the friend's relays and EventQueued fires; Pending shows the recipient as
// RecipientQueued. The item is: a sealed offer (or the message itself),
// padded to protocol.SmallBlobSize (1 KiB), then the sealed chunks, three
// 64 KiB chunks per envelope, every envelope (the last one too) padded to
// MailboxBlobBucket = protocol.BulkBlobSize (256 KiB): a relay stores only
// those two size classes (sizes.go). The recipient's catch-up opens, reassembles and acks; it answers
// with a sealed receipt in the reverse mailbox (or, on Reject, a signed
// rejection in the same kind of envelope: the sender gets
// EventDeliveryFailed with Err FailRejected, as it does when a direct offer
// is declined). Retries back off from RetryMin to RetryMax with the schedule
// stored per item and recipient (it survives restarts); a friend coming
// online or a relay reconnecting makes pending deliveries due at once. There
// is no polling: the mailboxes are checked at Start, on each relay
// (re)connect, on a pushed notification, and at day change. The mailbox
// subscription is the node's live link to a relay: when it breaks while
// the node runs (a relay restart, a dropped network), the node redials
// that relay with back-off (RelayRedialMin to RelayRedialMax, real time),
// renews the circuit reservation, subscribes again and catches up; a
// relay unreachable at Start gets the same loop (relaywatch.go).
//
// Meet: with a location (SetLocation), the app open (SetAppOpen) or the
// device dwelling in one cell for DwellTime, and outside every quiet zone,
// the node announces per friend (precision close = S2 level 16, casual =
// level 14, off = nothing; at most ProximityFriendCap friends) the here
// token and the near tokens of this epoch with a record (current transport
// peer ID and addresses) sealed under the pair's record key. A match opens
// the record, dials the friend (direct, else the circuit address), and only
// if both Hello proofs verify does friend_nearby fire; it expires after
// NearbyEpochs without a new confirmation (friend_gone). The same tokens
// serve the local paths: BLEAdvertisement/OnBLEScan for Bluetooth, and
// mDNS on the LAN (Config.EnableMDNS) where a found peer is probed with
// Hellos.
//
// Contacts (contactmatch.go, node/contacts): SetHandles claims this user's
// phone number and handles (stored on the device only); SyncContacts
// turns each (own handle, contact handle) pair into the output of a chain
// of blinded, verifiable OPRF stages at the network's relays (only new
// pairs are evaluated; a proof of work prices each batch), parks a sealed
// offer (card, relay hints, profile) under the output's entry ID at a
// directory relay and learns the offers others parked under the same ID:
// a contact_match. AcceptMatch posts an accept entry; once both sides
// accepted, each derives the pair keys with the chain's link secret and
// the friend is stored (friend_linked). Profiles (profile.go): SetProfile
// and SetProfilePicture send the profile end to end to every friend when
// it changes and to each new friend (friend_profile on the other side). Contacts left out of a sync, a
// rejected proposal and Forget withdraw the entries. SyncContacts blocks
// for its round trips and proofs of work (seconds for 1,000 contacts).
//
// Late meetings (history.go, late.go, meetings.go; issue 10): the node
// keeps its own per-epoch cell history (cells, never coordinates; 7 days by
// default, Config.History) and, once a day, advances every friend's pair
// keys to the window's first day. Epochs it would have announced without a
// relay (NetworkNone takes networking down; the history goes on) are
// announced late when a relay is back, one hour of them per one-off
// identity; the relay matches them against its history of past
// announcements. A late match becomes a meeting only once the friend
// confirms it from its own history (a TypeMeet claim and confirm, sealed,
// direct or through the mailbox): then friend_was_nearby {FriendID, From,
// To} on both phones. Meetings(since) lists live and late meetings;
// together.go shares photos taken during them.
//
// Sharing what was taken together (together.go, timezone.go; issue 10):
// SharePhotoTaken/ShareVideoTaken carry a capture time (outItem.Taken, a
// field of the sealed offer JSON, so no wire change; Item.Taken on both
// sides, 0 when unknown or out of range). Policy mode ShareTogether (and
// SharePhotoTogether, whatever the policy) shares with the friends nearby,
// live or late, at the capture time, and keeps the photo's path waiting
// (bucket Together, MaxTogetherWaiting, the history window) so that a
// meeting found later (meetingKnown, called for every new meeting span)
// shares it (SharePolicy.Auto) or proposes it (share_proposed; Proposals,
// AcceptProposal, DismissProposal). The waiting record is the ledger of
// what was done per friend, written in the same commit as the outbox
// item, so each photo reaches each friend at most once across restarts
// and crashes; New catches up meetings recorded before a crash. Share
// windows are read in the device's zone (Config.TimeZone, SetTimeZone).
//
// Forget: signed Forget requests to every relay with every mailbox key the
// node can derive for the retention window, both directions (which also
// withdraws its rendezvous entries there), the per-epoch history forget
// secrets (the relay erases this device's past announcements), then a wipe
// of the store, the pending copies and received files.
//
// # Simulation hook
//
// Config.HostFactory (for simulators and tests; not for apps) replaces the
// QUIC+TCP host: it is called on every Start and every rotation, and for
// every one-off identity, with the fresh transport key and must return a
// host with that key's peer ID. With a factory the P12 random waits are
// off, the rotation defaults to 24 h and the mailbox session shares the
// announce host (a second long-lived host per node made seeded runs
// differ), so seeded simulations stay reproducible. Nor does any path let
// a goroutine race decide a time, with or without a factory: after a
// (re)subscription the catch-up of the blobs the relay reported pending
// and the full catch-up run one after the other in one goroutine
// (catchUpAfterSubscribe; they raced for the fetch slot, and a returning
// phone's items came 160 ms later when the full one won; test/testnet/
// simnet TestSimSameSeed under -race).
// mDNS is off with a factory; circuit reservations and hole punching are
// best effort (failures are logged at debug level), so a simulated host
// without them still links, meets, shares and uses mailboxes.
// Config.CellRule (simulations only) replaces geo.Cells as the rule that
// picks the announced cells, so the testnet can compare neighbour rules
// on the real node.
//
// # What leaves the device
//
// To relays (its own, and friends' relays it posts to, each on the
// transport identity its role allows, see below): sealed envelopes (padded
// to the two size classes, sealed sender),
// mailbox IDs and signatures by per-pair, per-direction, per-day mailbox
// keys, 8-byte proximity tokens and sealed records, the epoch number, the
// rotating transport identity and its addresses, and sealed link requests
// parked under invite-derived mailbox IDs. To friends: sealed
// offers, chunks, envelopes and receipts, Hello proofs, this device's
// relay addresses (in the invite and sealed envelopes). Never: location,
// cells, coordinates, distances (P3/P4), the identity key, friend lists.
//
// # Transport identities (P12, transport.go, ephemeral.go)
//
// The libp2p identity is not the device identity, and a relay sees three
// kinds, never mixed: the announce identity (the listening host: circuit
// reservation, rendezvous, friends), made on every Start and again after a
// random 75–100 % of Config.TransportRotation (default 1 h, at most 24 h,
// by the injected clock), which never touches a mailbox; the day's
// mailbox identity (client-only, new at each day change and Start), which
// subscribes, fetches and acks only that day's inbound mailboxes; and
// one-off identities, one per put group, notice, parked link request or
// past day's catch-up, closed at once. Receipts and rejections wait a
// random 1–20 s before they are posted; a new announce identity attaches
// 0–20 s after a rotation. Friends learn the current announce ID only
// from sealed records and Hellos; direct attempts to an old ID fail and
// fall back to the mailbox until the next match or session. The source IP
// is the same for all three (docs/relay.md, "What a relay learns").
//
// # App lifecycle
//
// Start, Stop (networking off, store open; Start again works), SetAppState
// (in AppBackground the host is closed: no connection, no keepalive; the
// node wakes only for its own retry timers or when told), SyncOnce (one
// bounded catch-up and flush for a background fetch or push, ending with
// EventSyncDone) and NetworkChanged live in lifecycle.go and sync.go;
// push-endpoint registration on the way to sleep in push.go; the inbox
// data API (InboxPage, Item, DeleteItem, MarkSeen) in inboxpage.go;
// pending links (EventFriendPending, Friend.Pending) in friendstatus.go.
// docs/mobile.md is the app developer's guide.
//
// # Which calls block, and for how long
//
// No call waits for the network except Link and Start. SharePhoto,
// ShareVideo and ShareBytes return after one store commit (about a
// millisecond on a phone's flash; ShareBytes also copies the bytes);
// hashing and sealing run in the background (a 512 MiB video took 3.3 s
// to seal on the test machine, now off the caller's thread). CancelItem
// waits for one commit and for the item's goroutines to see the cancel
// (milliseconds). SendMessage, Like, Accept, Reject, SetAutoAccept,
// SetSharePolicy, Unfriend and the other setters: one store commit each.
// Inbox and Pending read the store (linear in items). Link: up to
// DialTimeout to reach the inviter, then it parks the request at a relay
// (MailboxPutTimeout). Start: builds the host and connects to the relays
// (each bounded by DialTimeout, in parallel with the rest). New: opens the
// store (waits up to 2 s if another process holds it). Close and Forget:
// wait for the node's goroutines (transfers stop at once on the cancelled
// context); Forget also talks to every relay (bounded per relay).
//
// # Concurrency
//
// All exported methods are safe for concurrent use. Node.mu guards the
// in-memory state (friends, host, location, relay sessions); the store has
// its own transactions; outbox and inbox records are changed with
// read-modify-write transactions. Goroutines: one event-delivery goroutine
// (events reach the app in order, never from a caller's goroutine), one
// background loop (deliveries, proximity ticks, reservation refresh,
// rotation), and short-lived workers started through Node.spawn or the
// loop (among them one watcher per mailbox subscription, which becomes
// the relay's redial loop when the subscription breaks), all tracked by
// one WaitGroup that Close waits on after cancelling the node context.
// Inbound stream handlers register with the same WaitGroup.
//
// # Limits
//
// Invites: MaxInviteLen, MaxInviteAddrs, InviteTTL, single use. Frames:
// protocol caps via protocol.Read*/Validate*. Items: MaxItemSize,
// MaxMessageLen, MaxRecipients, MaxShareBytes; replay window for envelopes is the
// retention plus a day; peer streams time out after StreamIdleTimeout
// without a frame. Local paths: MaxBLEScan, MaxBLETokens, MaxLANProbes.
// Deliveries: MaxParallelDeliveries; notices: MaxParallelNotices; relay
// redials: RelayRedialMin..RelayRedialMax. Friends' relays: MaxRelayHints,
// MailboxPutTimeout. Transport: TransportRotation (DefaultTransportRotation,
// MaxTransportRotation).
//
// # Caveats
//
// Sharing: the file must not change until sealing ends (size and
// modification time are compared around the passes; a change fails the
// item with FailSource), and content given to ShareBytes lives only in
// memory until sealed, so a restart before that fails the item with
// FailSource. CancelItem does not take back copies already posted to a
// relay mailbox. An auto-accepted transfer in progress shows in Inbox only
// after its first resume point (16 MiB); receive_progress events report it
// from the start.
// Received files are stored in the clear under DataDir/media (the app
// shows them); the store and the sealed pending copies are encrypted.
// Offline items are sealed to the friend's daily prekey (exchanged at link
// time and on every confirmed meeting; PrekeyFreshDays), else its box key;
// a device erases its prekeys after crypto.PrekeyRetentionDays. The Hello
// of an inbound stream is matched against every friend's hint for the
// epoch (linear in friends). Previews are not generated. A link parked in
// the mailbox is refused silently if the invite was used up or expired
// meanwhile: the requester keeps a one-sided friend until it unfriends.
// A rejection of a mailbox item needs a relay to travel back; without
// one the sender learns it on its next direct attempt. Receipts and
// rejections of mailbox items are stored before they are posted and
// retried like deliveries (notices.go: RetryMin..RetryMax, kept across
// restarts, due at once when a relay reconnects, at most
// MaxParallelNotices in flight), then dropped once a relay acknowledged
// the put or after the retention; a notice that arrives twice changes
// nothing at the sender. The node does not re-send an item already
// posted to a mailbox: it waits for the notice. A friend's relay addresses are used as the friend gave them
// (the device dials them with its transport identity; at most
// MaxRelayHints, no circuit addresses). The rendezvous
// record holds the transport peer ID, the circuit address
// through the announcing relay and one direct address; it is sealed once
// per announcement round (512 bytes, crypto.SealSharedRecord) and each
// friend gets only a 16-byte key share, so an epoch costs about 80 bytes
// per friend with the tokens (TestIdleCost: ~7.9 KB per epoch for 100
// friends, was ~21 KB with a record per friend; one write per epoch,
// nothing when silent).
//
// # Which tests prove what
//
//   - P3/P4 (nothing locating leaves): TestNothingLocatingLeaves records
//     every byte sent to the relay and every event through meeting,
//     sharing and mailbox delivery and finds no coordinate, cell ID or
//     distance; TestMeetQuietZoneNeverFound, TestMeetPrecisionOffAndNoLocation.
//     In shared content: TestSharedPhotoHasNoGPS (JPEG, PNG, HEIC, direct)
//     and TestSharedVideoHasNoLocation (MP4, through the mailbox): the
//     friend finds no position in what it receives (scrubshare_test.go).
//   - P7 (accept/reject, policies): TestShareDirectAccept,
//     TestShareDirectReject, TestOfflineRejectReachesSender,
//     TestShareAutoAcceptLikesMessages.
//   - P8 (forget): TestForgetLeavesNothingAtRelay.
//   - P9 (no location still receives): TestMeetPrecisionOffAndNoLocation.
//   - P11 (pending copy dropped): TestShareDirectAccept,
//     TestOfflineDeliveryThroughRelay, TestPendingCopyExpires.
//   - P13 (analytics only as shares of many): TestAnalyticsAggregatesOnly
//     (150 phones, two real collectors, true sums, small day unpublished,
//     one-off identities, one size, off sends nothing),
//     TestAnalyticsCollectorStateHoldsNoIdentifiers (both collectors'
//     memory-held state and files scanned for the phones' transport IDs,
//     keys and address prefix, with positive controls), TestAnalyticsFeeds
//     (each schema field fed where the node knows it, as one coarse
//     bucket; analyticsfeed.go).
//   - P12 (a relay that logs everything cannot link): TestRelayCannotLink
//     (three users, three simulated days, hourly rotation, restarts and
//     offline days; checks that announce identities span one rotation
//     period and touch no mailbox, puts never come from a reading or
//     announcing identity, no mailbox identity spans two days, and only
//     size classes are stored), TestTransportIdentityRotates; cost:
//     TestTransportCost (bytes of a one-off identity on the wire),
//     TestIdleCost (identities made per idle hour).
//   - An item to an offline friend streams from the pending copy in groups
//     of mailboxPutGroup blobs: TestMailboxBigItemBoundedHeap (32 MiB, heap
//     growth ≈ 6 MiB, bound 12).
//   - Resume without re-sending: TestTransferResumes; after SIGKILL of a
//     real receiving process mid-transfer, with a byte-identical result
//     delivered once: test/nodee2e TestKillMidReceive.
//   - Asynchronous sharing: TestFirstByteBeforeSealingEnds (the first
//     chunk reaches the recipient while sealing is held; progress events
//     on both sides), TestCancelItemStopsSealing,
//     TestCancelItemStopsSending, TestShareBytes,
//     TestSealingResumesAfterRestart.
//   - Meeting end to end: TestMeetFriendNearbyOnBoth, TestBLEHook,
//     TestLANProbe; offline delivery exactly once and an empty relay
//     afterwards, EventQueued and RecipientQueued:
//     TestOfflineDeliveryThroughRelay.
//   - Simulation hook: TestHostFactory (two nodes on TCP-only hosts from a
//     factory: link, direct share, rotation through the factory, mailbox),
//     TestHostFactoryWrongKey.
//   - Store held by another process: localstore.TestOpenLocked.
//   - Link with the inviter offline, single use kept: TestLinkViaMailbox;
//     across relays: TestLinkViaMailboxAcrossRelays.
//   - Relay restarts: TestRelayRestartKeepsDelivering (a put acknowledged
//     before a restart is delivered after it; friends online through
//     the restart keep receiving by mailbox, and receipts reach the
//     sender); TestNoticesRetried (receipt and rejection retried while
//     the sender's relay is down, across a restart of the recipient,
//     then dropped; a duplicate changes nothing),
//     TestNoticeDroppedAfterRetention.
//   - Friends on different relays: TestOfflineAcrossRelays (photo and
//     message to the recipient's relay, receipts to the sender's, both
//     relays empty after), TestOfflineRejectAcrossRelays,
//     TestRelayChangeToldOnMailbox (a moved relay set reaches the friend
//     ahead of the next mailbox item); FuzzRelayHints.
//   - Cost: TestIdleCost (bytes per epoch); BenchmarkTransfer8MiB,
//     BenchmarkTransfer256MiB (with peak RSS) and
//     BenchmarkTransfer8MiBTo5Friends run raw QUIC streams, raw streams
//     into fsynced files and the share in one loop and report the ratios;
//     BenchmarkTTFBAfterAccept (docs/BENCH.md).
//   - Bad peer input: TestBadPeerInput, FuzzShareHandler, FuzzLinkHandler,
//     TestBadInvites.
//   - Encryption at rest: localstore.TestFileRevealsNothing.
//   - App lifecycle (lifecycle.go, sync.go, push.go; issue 12), proven
//     through node/mobile over real hosts and a relay:
//     TestBackgroundDropsKeepalives (0 datagrams to the relay in a window
//     longer than the QUIC keepalive period once backgrounded),
//     TestStopStart, TestSyncOnceInBackground, TestBackgroundWakesForOwnRetry,
//     TestPushWakesBackgroundedNode,
//     TestPushOnlyToAllowedHosts; pending links: TestLinkViaMailbox (here)
//     and TestLinkPendingThenConfirmed; data API: TestDataAPI.
//   - P5/P6 (contacts only blinded, at most 30 days at a relay; a user is a
//     device ID): TestContactMatchLinksMutualPairs,
//     TestContactChainTwoRelays, TestContactEntriesWithdrawnAndExpire,
//     TestContactWithoutHandlesOrPermission (contactmatch.go);
//     profiles after linking: TestProfileReachesFriends.
//   - Late meetings (issue 10): TestLateMeetingAfterOutage (real relay,
//     injected clock: friend_was_nearby on both with the epoch's times,
//     nothing locating in the bytes sent, the events or the relay's files,
//     Forget erases the relay's history entries),
//     TestLateNoMatchOutsideWindowOrHistoryOff, TestLateClaimConfirmedEndToEnd
//     (claims the friend's history does not back give nothing),
//     TestLateConfirmOnlyForClaimedEpochs (nor confirms of unclaimed epochs),
//     TestLateClaimKeepsPrecision (nor claims at a precision the friend
//     is not given, none with precision off),
//     TestHistoryRecordsOnlyWhatWouldBeAnnounced, TestHistoryPrunedAndKeysAdvanced,
//     TestRelayCannotLink (link 5: late identities);
//     TestLateCheckNotOnEveryCellChange (cost: a new cell set of the
//     current epoch does not make the next tick re-read the whole history;
//     one of a past epoch does); TestLateDueIndexMatchesScan (the epochs
//     due are found through the index of settled epochs, historyidx.go,
//     exactly as by reading every record, across writes, a prune and a
//     fresh index; only unsettled records are opened).
//   - Taken while together (issue 10): TestTogetherAfterOutage (the real
//     late path: a photo taken without reception is auto-shared, another
//     proposed with the meeting's times and shared on accept, nothing twice
//     after a restart), TestTogetherLiveMeeting (friends met live at the
//     capture time; the capture time reaches the recipient),
//     TestTogetherLateMeetingProposes (one proposal per photo and friend,
//     also across restarts), TestTogetherAutoExactlyOnce (a meeting logged
//     just before a crash is caught up at New, shared once),
//     TestTogetherWindowAndCap (window, dismiss, cap with its counter),
//     TestShareWindowsLocalTime (windows in a +05:30 zone across midnight;
//     fails when read in UTC); TestNothingLocatingLeaves also scans
//     share_proposed and friend_was_nearby (P4).
package node
