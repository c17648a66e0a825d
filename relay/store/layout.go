package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/imigee/imigee/crypto"
)

// On-disk layout (format version 3). All integers are big-endian so that
// byte order is numeric order.
//
//	data:   blobID(16) ‖ chunk(2)   → up to dataChunk bytes of the sealed blob
//	expiry: expires(8) ‖ blobID(16) → sealed(mailbox(16) ‖ size(4)) (64 B)
//	meta:   "version" → 3; "retention" → nanos(8)
//
// Sealed values are sealed under a day key kept outside the file
// (atrest.go): no key of the file names a mailbox, and no value is
// readable once its day key is erased. Format 2 had the mailbox in the
// expiry key and the size and data in the clear; Open migrates it.
//
// Both buckets are keyed by time: blob IDs start with the receive time, and
// the expiry is the receive time plus the retention. A put therefore only
// appends at the right edge of two trees, into full pages, like a log; an
// ack or expiry deletes the same keys. The mailbox index (mailbox → its blob
// IDs, sizes and expiries) and the quota counters live in memory (index.go)
// and are rebuilt at Open from the expiry bucket, which names every blob's
// mailbox (sealed), ID, expiry and size. Format 1 also kept that index and the
// counters on disk (buckets "blobs" and "mailboxes", meta "totals"); Open
// migrates such a file (migrate.go).
//
// Data is cut into chunks of at most dataChunk bytes so every page bbolt
// allocates is a single page: the freelist never needs a contiguous run, so
// freed pages are always reusable (large values in overflow runs fragment
// the file; see doc.go). expiry is ordered by expiry so a sweep reads only
// the prefix that has expired.
var (
	bucketData   = []byte("data")
	bucketExpiry = []byte("expiry")
	bucketMeta   = []byte("meta")

	metaVersion   = []byte("version")
	metaRetention = []byte("retention")

	// Format 1 only; removed by the migration.
	bucketBlobsV1     = []byte("blobs")
	bucketMailboxesV1 = []byte("mailboxes")
	metaTotalsV1      = []byte("totals")
)

const (
	formatVersion  = 3
	blobIDLen      = 16
	expiryKeyLen   = 8 + blobIDLen
	expiryValueLen = sealOverhead + metaPlainLen
	dataKeyLen     = blobIDLen + 2

	// Format 2 (migrate.go): expiry keys named the mailbox, values held
	// the size.
	blobKeyLenV2     = crypto.MailboxIDSize + blobIDLen
	expiryKeyLenV2   = 8 + blobKeyLenV2
	expiryValueLenV2 = 4

	// dataChunk is the largest data value (986 B). bbolt never splits a
	// leaf of four or fewer keys, so a leaf stays within one 4 KiB page only
	// if four elements fit: 16 (page header) + 4 × (16 (element header) +
	// 18 (key) + 986) = 4096. Then every allocation is a single page.
	dataChunk = 986

	// expiryFillPercent and dataFillPercent: those keys arrive in order
	// (receipt time), so pages can be split full; bbolt also merges a page
	// that falls below half of this on delete, which keeps the data tree
	// dense when blobs are acked out of order.
	expiryFillPercent = 1.0
	dataFillPercent   = 1.0
)

// BlobID names one stored blob. It is time-ordered: the 8-byte big-endian
// receive time (unix nanoseconds, relay clock) followed by 8 random bytes,
// so IDs sort by arrival and a client's "after" cursor is an ID.
type BlobID [blobIDLen]byte

// newBlobID returns an ID for a blob received at t.
func newBlobID(t time.Time) BlobID {
	var id BlobID
	binary.BigEndian.PutUint64(id[:8], uint64(t.UnixNano()))
	rand.Read(id[8:]) // never fails (crypto/rand contract since Go 1.24)
	return id
}

// Received returns the receive time encoded in the ID.
func (id BlobID) Received() time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(id[:8])))
}

// String returns the ID in hex.
func (id BlobID) String() string { return hex.EncodeToString(id[:]) }

// Ref names one blob of one mailbox, for Ack.
type Ref struct {
	Mailbox crypto.MailboxID
	ID      BlobID
}

// Blob is one stored blob as returned by List. Data is nil unless List was
// asked for data; Size is always the data length.
type Blob struct {
	Mailbox  crypto.MailboxID
	ID       BlobID
	Data     []byte
	Size     int
	Received time.Time
	Expires  time.Time
}

// blobKeyV2 is a format-2 mailbox ‖ blobID key.
func blobKeyV2(m crypto.MailboxID, id BlobID) []byte {
	k := make([]byte, blobKeyLenV2)
	copy(k, m[:])
	copy(k[crypto.MailboxIDSize:], id[:])
	return k
}

func splitBlobKeyV2(k []byte) (m crypto.MailboxID, id BlobID) {
	copy(m[:], k[:crypto.MailboxIDSize])
	copy(id[:], k[crypto.MailboxIDSize:])
	return m, id
}

// expiryKeyV2 is a format-2 expiry key: expires ‖ mailbox ‖ blobID.
func expiryKeyV2(exp int64, bk []byte) []byte {
	k := make([]byte, expiryKeyLenV2)
	binary.BigEndian.PutUint64(k, uint64(exp))
	copy(k[8:], bk)
	return k
}

func expiryValueV2(size int) []byte {
	v := make([]byte, expiryValueLenV2)
	binary.BigEndian.PutUint32(v, uint32(size))
	return v
}

// expiryKey is a format-3 expiry key: expires ‖ blobID.
func expiryKey(exp int64, id BlobID) []byte {
	k := make([]byte, expiryKeyLen)
	binary.BigEndian.PutUint64(k, uint64(exp))
	copy(k[8:], id[:])
	return k
}

func splitExpiryKey(k []byte) (exp int64, id BlobID) {
	copy(id[:], k[8:])
	return int64(binary.BigEndian.Uint64(k)), id
}

// sealedLen is the stored length of a blob of size bytes.
func sealedLen(size int) int { return size + sealOverhead }

func dataKey(id []byte, chunk int) []byte {
	k := make([]byte, dataKeyLen)
	copy(k, id)
	binary.BigEndian.PutUint16(k[blobIDLen:], uint16(chunk))
	return k
}

// chunks is the number of data chunks of n stored bytes.
func chunks(n int) int { return (n + dataChunk - 1) / dataChunk }

// blobChunks is the number of data chunks of a blob of size bytes (sealed).
func blobChunks(size int) int { return chunks(sealedLen(size)) }

// counter is a (count, bytes) pair: one mailbox's or the relay's total.
type counter struct{ n, bytes int64 }

func u64(x uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, x)
	return b
}
