package protocol

// Limits are part of the wire contract: a frame or field beyond them is
// rejected by ReadMsg (frame caps) or by the Validate functions (fields and
// counts) before anything acts on it. A relay may enforce lower limits of its
// own (blob cap, quotas, rates); it may never accept more than these.

// Sizes of fixed-length fields, in bytes.
const (
	// MailboxIDSize is the length of a mailbox ID (crypto.MailboxIDSize): 16.
	MailboxIDSize = 16
	// BlobIDSize is the length of a relay-assigned blob ID: 16.
	BlobIDSize = 16
	// ItemIDSize is the length of a share item ID: 16.
	ItemIDSize = 16
	// InviteIDSize is the length of a link invite ID: 16.
	InviteIDSize = 16
	// OriginSize is the length of a gossip origin (a random session name): 16.
	OriginSize = 16
	// ChallengeSize is the length of a mailbox challenge nonce: 32.
	ChallengeSize = 32
	// TokenSize is the length of a proximity token: 8.
	TokenSize = 8
	// PairHintSize is the length of a Hello pair hint: 8.
	PairHintSize = 8
	// HelloNonceSize is the length of a Hello nonce: 16.
	HelloNonceSize = 16
	// HelloProofSize is the length of a Hello proof MAC: 32.
	HelloProofSize = 32
	// HelloCapAESGCM is the Hello caps bit of a device that opens
	// version-3 stream chunks (AES-256-GCM) in hardware: bit 0. Unknown
	// bits are ignored, so later releases can add their own.
	HelloCapAESGCM = 1 << 0
	// PublicKeySize is the length of an Ed25519 public key: 32.
	PublicKeySize = 32
	// SignatureSize is the length of an Ed25519 signature: 64.
	SignatureSize = 64
)

// Content sizes, in bytes.
const (
	// MaxBlobSize is the hard cap of one mailbox Put blob: 1 MiB. Relays
	// may set a lower cap; none may accept more.
	MaxBlobSize = 1 << 20
	// ChunkSize is the plaintext size of one stream chunk: 64 KiB.
	ChunkSize = 64 << 10
	// SealOverhead is the slack allowed for sealing headers (nonces, MACs,
	// the sealed-sender layer) on top of a plaintext cap: 1 KiB.
	SealOverhead = 1 << 10
	// MaxSealedChunk caps Chunk.data: ChunkSize + SealOverhead.
	MaxSealedChunk = ChunkSize + SealOverhead
	// MaxSealedOffer caps Offer.sealed: 64 KiB + SealOverhead.
	MaxSealedOffer = 64<<10 + SealOverhead
	// MaxSealedEnvelope caps Envelope.sealed on a share stream: 64 KiB +
	// SealOverhead. Bigger items go as an Offer and chunks, or by mailbox.
	MaxSealedEnvelope = 64<<10 + SealOverhead
	// MaxSealedLink caps LinkRequest.sealed and LinkResponse.sealed: 4 KiB.
	MaxSealedLink = 4 << 10
	// MaxSealedRecord caps a rendezvous sealed record: 512.
	MaxSealedRecord = 512
	// MaxErrorDetail caps Error.detail: 256.
	MaxErrorDetail = 256
	// MaxFetchBytes caps the sum of Blob.data in one FetchResult: 4 MiB.
	// A relay fills a FetchResult up to min(Fetch.max_bytes, its own cap,
	// MaxFetchBytes) and sets more.
	MaxFetchBytes = 4 << 20
)

// Counts of repeated fields.
const (
	// MaxAuthsPerRequest caps MailboxAuth entries in Fetch, Ack, Subscribe
	// and Forget: 1024.
	MaxAuthsPerRequest = 1024
	// MaxBlobRefsPerAck caps Ack.blobs: 1024.
	MaxBlobRefsPerAck = 1024
	// MaxBlobsPerFetch caps FetchResult.blobs and Fetch.max_blobs: 1024.
	MaxBlobsPerFetch = 1024
	// MaxAnnouncements caps Announce.announcements and
	// RendezvousGossip.announcements: 1024.
	MaxAnnouncements = 1024
	// MaxTokensPerAnnouncement caps Announcement.tokens: 32.
	MaxTokensPerAnnouncement = 32
	// MaxTokensPerAnnounce caps the tokens of all announcements of one
	// Announce or gossip message together: 8192 (1024 friends × 8 tokens;
	// the design's budget is about 5 per friend).
	MaxTokensPerAnnounce = 8192
	// MaxMatchesPerResult caps AnnounceResult.matches: 1024. Further
	// matches are pushed as separate Match responses.
	MaxMatchesPerResult = 1024
	// MaxForgetSecrets caps HistoryForget.secrets and
	// RendezvousGossip.forget: 1024.
	MaxForgetSecrets = 1024
	// MaxGossipBatch caps RendezvousGossipBatch.items: 1024. The batch as
	// a whole is capped by MaxGossipMessage too.
	MaxGossipBatch = 1024
)

// History (late announcements).
const (
	// ForgetSecretSize is the length of a per-epoch history forget secret
	// and of its tag (SHA-256): 32.
	ForgetSecretSize = 32
)

// Epoch bounds accepted in Announce and gossip.
const (
	// MinEpochSeconds is the shortest epoch a client may announce: 60 s.
	MinEpochSeconds = 60
	// MaxEpochSeconds is the longest epoch a client may announce: 86400 s.
	// The default epoch is 600 s.
	MaxEpochSeconds = 86400
)

// Frame caps: the largest encoded protobuf (without the length prefix) that
// a reader accepts on each stream. Each is at least the size of the largest
// message that passes its Validate function (tests prove this) and is
// checked before a byte of the body is allocated.
const (
	// MaxMailboxRequest caps a MailboxRequest frame: MaxBlobSize + 4 KiB
	// (a Put of a full blob; 1024 auths + 1024 refs need ~165 KiB).
	MaxMailboxRequest = MaxBlobSize + 4<<10
	// MaxMailboxResponse caps a MailboxResponse frame: MaxFetchBytes +
	// 128 KiB (a full FetchResult: 4 MiB of data plus 1024 blob headers).
	MaxMailboxResponse = MaxFetchBytes + 128<<10
	// MaxRendezvousRequest caps a RendezvousRequest frame: 768 KiB. The
	// largest valid Announce (1024 announcements of 512-byte records and
	// 8192 tokens in all) encodes to about 650 KiB.
	MaxRendezvousRequest = 768 << 10
	// MaxRendezvousResponse caps a RendezvousResponse frame: 768 KiB (1024
	// matches of 512-byte records encode to about 550 KiB).
	MaxRendezvousResponse = 768 << 10
	// MaxGossipMessage caps a RendezvousGossipBatch (and each
	// RendezvousGossip item of it): 768 KiB, below
	// go-libp2p-pubsub's default 1 MiB message cap with room for its
	// envelope (signature, sender, sequence number, topic).
	MaxGossipMessage = 768 << 10
	// MaxLinkFrame caps LinkRequest and LinkResponse frames: 8 KiB.
	MaxLinkFrame = 8 << 10
	// MaxShareFrame caps a PeerFrame: 64 KiB + 2 KiB (a chunk, an offer or
	// an envelope at its cap plus field headers).
	MaxShareFrame = 64<<10 + 2<<10
)

// MaxVarintLen is the longest length prefix a reader accepts: 10 bytes, the
// longest uvarint encoding of a uint64.
const MaxVarintLen = 10

// Blob size classes (DESIGN.md P12). A relay stores only blobs whose
// length is exactly one of BlobSizes and refuses any other length with
// BAD_REQUEST, so what it sees of an item is one of two sizes: every small
// item (message, like, receipt, rejection, offer, contact update, parked
// link request) is SmallBlobSize, every chunk blob BulkBlobSize. A message
// too long for the small class goes as one bulk blob. Nodes pad up to the
// class (crypto.Sealer.SealPadded; link requests with zeros after the
// length-prefixed frame).
const (
	// SmallBlobSize is the size class of every small item: 1 KiB.
	SmallBlobSize = 1 << 10
	// BulkBlobSize is the size class of chunk blobs (and of small items
	// that do not fit SmallBlobSize): 256 KiB.
	BulkBlobSize = 256 << 10
)

// BlobSizes lists the blob size classes, smallest first.
var BlobSizes = [...]int{SmallBlobSize, BulkBlobSize}

// BlobClass returns the smallest blob size class that holds n bytes, or 0
// if n is larger than every class.
func BlobClass(n int) int {
	for _, c := range BlobSizes {
		if n <= c {
			return c
		}
	}
	return 0
}

// IsBlobSize reports whether n is exactly a blob size class.
func IsBlobSize(n int) bool {
	for _, c := range BlobSizes {
		if n == c {
			return true
		}
	}
	return false
}
