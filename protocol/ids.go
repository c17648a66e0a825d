package protocol

// Protocol IDs. They are plain strings so that package protocol stays free of
// go-libp2p; callers convert them with protocol.ID(...) from go-libp2p.
//
// Versioning: every ID ends in a major version. A change that an old peer
// would misread (a renumbered or retyped field, a new mandatory field, a
// tighter limit, a new error code) needs a new major version served side by
// side with the old one. Adding an optional field is not such a change:
// decoders drop unknown fields (see ReadMsg), so /1 may grow additively.
const (
	// MailboxProtocol carries MailboxRequest/MailboxResponse frames between
	// a node and a relay (put, fetch, ack, subscribe/notify, forget).
	MailboxProtocol = "/imigee/mailbox/1"

	// RendezvousProtocol carries RendezvousRequest/RendezvousResponse frames
	// between a node and a relay (announce, withdraw; pushed matches).
	RendezvousProtocol = "/imigee/rendezvous/1"

	// LinkProtocol carries one LinkRequest and one LinkResponse between two
	// devices that are becoming friends.
	LinkProtocol = "/imigee/link/1"

	// ShareProtocol carries PeerFrame frames between two friends' devices
	// (hello, offer, reply, chunks, receipt, resume, envelopes).
	ShareProtocol = "/imigee/share/1"

	// GossipTopic is the pubsub topic on which the relays of one network
	// exchange RendezvousGossipBatch messages (one batch per pubsub
	// message, no length prefix). Version 2: version 1 carried one bare
	// RendezvousGossip per pubsub message (GossipTopicV1).
	GossipTopic = "/imigee/rendezvous-gossip/2"

	// GossipTopicV1 is the topic of relays before gossip batches: one bare
	// RendezvousGossip per pubsub message. Relays still subscribe to it
	// and apply what arrives there, so during a rolling upgrade a relay
	// of this release hears the announcements of relays not yet upgraded
	// (they do not hear its batches: a meeting across the two is found at
	// the upgraded relay, and the Hello confirms it to both phones).
	GossipTopicV1 = "/imigee/rendezvous-gossip/1"
)

// Version is the wire version of every stream protocol ID above; it moves
// only together with them. GossipTopic carries its own (2).
const Version = 1
