package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/sys/cpu"
)

const (
	// DefaultChunkSize is the plaintext size of every chunk but the last:
	// 64 KiB.
	DefaultChunkSize = 64 << 10

	// MaxChunkSize bounds a stream's chunk size: 1 MiB, the largest blob a
	// relay accepts.
	MaxChunkSize = 1 << 20

	// MinChunkSize bounds a stream's chunk size from below: 1 KiB.
	MinChunkSize = 1 << 10

	// ChunkOverhead is what sealing adds to each chunk (the Poly1305 tag),
	// the same for both stream versions.
	ChunkOverhead = chacha20poly1305.Overhead

	// StreamKeySize is the length of an encoded StreamKey:
	// version(1) ‖ key(32) ‖ nonce prefix(19) ‖ chunk size(4).
	StreamKeySize = 1 + 32 + streamPrefixSize + 4

	// MaxChunks bounds the chunk index (a uint32 in the nonce).
	MaxChunks = 1<<32 - 1

	// StreamV1 seals chunks with secretbox (XSalsa20-Poly1305). Keys of
	// this version are still parsed and opened (pending copies and
	// transfers begun before version 2), never made.
	StreamV1 = 1
	// StreamV2 seals chunks with XChaCha20-Poly1305 (the IETF AEAD with
	// a 24-byte nonce, no associated data): the same key, nonce layout and
	// tag size as version 1, a cipher with vector assembly on amd64 and
	// arm64, 2.5× faster than XSalsa20 here (docs/BENCH.md, issue 13).
	StreamV2 = 2
	// StreamV3 seals chunks with AES-256-GCM (standard library), nonce =
	// the last 12 bytes of the version-2 nonce (prefix[12:] ‖ i ‖ last),
	// unique per (chunk, last flag) under a key drawn for one item. It is
	// for devices whose CPU has AES and carry-less multiply instructions
	// (AESGCMHardware): there it opens 2.5× faster than version 2 (6.5
	// against 2.6 GB/s here), a millisecond of an 8 MiB transfer whose
	// two ends share two cores (docs/BENCH.md, issue 13). A sender makes
	// it only when its own CPU and every recipient's advertise hardware
	// AES (node: Hello caps); NewStreamKey still makes version 2, the
	// safe choice on a CPU without AES instructions, where ChaCha20 is
	// the faster cipher.
	StreamV3 = 3

	streamPrefixSize = 19
	gcmNonceSize     = 12
)

// AESGCMHardware reports whether this CPU runs AES-GCM in hardware (AES
// and carry-less multiply instructions, as crypto/tls decides its cipher
// preference): where version-3 stream keys are the faster choice.
func AESGCMHardware() bool {
	switch runtime.GOARCH {
	case "amd64", "386":
		return cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ
	case "arm64":
		return cpu.ARM64.HasAES && cpu.ARM64.HasPMULL
	case "s390x":
		return cpu.S390X.HasAES && cpu.S390X.HasAESGCM
	}
	return false
}

func init() {
	// The two versions are interchangeable on the wire only because they
	// add the same overhead.
	if secretbox.Overhead != chacha20poly1305.Overhead || gcmTagSize != chacha20poly1305.Overhead {
		panic("crypto: stream versions differ in overhead")
	}
}

// StreamKey seals one piece of content in fixed-size chunks (STREAM over
// XChaCha20-Poly1305, AES-256-GCM for version-3 keys, or secretbox for
// version-1 keys). Chunk i is sealed under nonce = prefix(19) ‖ i(4, big-endian)
// ‖ last(1), so a chunk moved to another index, another stream, or marked
// last when it was not, fails to open, and a stream cut short lacks its last
// chunk. The content is sealed once; the StreamKey itself is sent to each
// recipient in an envelope (TypeContentKey). A StreamKey is immutable and
// safe for concurrent use.
type StreamKey struct {
	Key       [32]byte
	Prefix    [streamPrefixSize]byte
	ChunkSize uint32
	// Version is the chunk cipher: StreamV2 (what NewStreamKey makes; 0
	// means StreamV2), StreamV3 or StreamV1.
	Version uint8

	// aes holds the AES-GCM instance of a version-3 key once made (keys
	// from NewStreamKey and ParseStreamKey; nil in a key built by hand):
	// making it (key schedule, GHASH tables) took 0.6 µs and 1.3 KB per
	// chunk, 6 % of opening a 64 KiB chunk.
	aes *gcmCache
}

// gcmCache is the AES-GCM instance of one key; copies of a StreamKey share
// it, and it is used only while it was made for the key's current bytes.
type gcmCache struct {
	once sync.Once
	key  [32]byte
	aead cipher.AEAD
}

// NewStreamKey draws a random content key and nonce prefix (51 bytes from
// rand). chunkSize 0 means DefaultChunkSize.
func NewStreamKey(rand io.Reader, chunkSize int) (*StreamKey, error) {
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	if chunkSize < MinChunkSize || chunkSize > MaxChunkSize {
		return nil, fmt.Errorf("crypto: stream key: chunk size %d: %w", chunkSize, ErrMalformed)
	}
	k := &StreamKey{ChunkSize: uint32(chunkSize), Version: StreamV2, aes: new(gcmCache)}
	if _, err := io.ReadFull(rand, k.Key[:]); err != nil {
		return nil, fmt.Errorf("crypto: stream key: %w", err)
	}
	if _, err := io.ReadFull(rand, k.Prefix[:]); err != nil {
		return nil, fmt.Errorf("crypto: stream key: %w", err)
	}
	return k, nil
}

// MarshalBinary encodes the key in its StreamKeySize layout. The output is
// secret: seal it in an envelope.
func (k *StreamKey) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, StreamKeySize)
	b = append(b, k.version())
	b = append(b, k.Key[:]...)
	b = append(b, k.Prefix[:]...)
	return binary.BigEndian.AppendUint32(b, k.ChunkSize), nil
}

// ParseStreamKey decodes a StreamKey written by MarshalBinary.
func ParseStreamKey(b []byte) (*StreamKey, error) {
	if len(b) != StreamKeySize || (b[0] != StreamV1 && b[0] != StreamV2 && b[0] != StreamV3) {
		return nil, fmt.Errorf("crypto: stream key: %w", ErrMalformed)
	}
	k := &StreamKey{Version: b[0], aes: new(gcmCache)}
	copy(k.Key[:], b[1:33])
	copy(k.Prefix[:], b[33:52])
	k.ChunkSize = binary.BigEndian.Uint32(b[52:])
	if k.ChunkSize < MinChunkSize || k.ChunkSize > MaxChunkSize {
		return nil, fmt.Errorf("crypto: stream key: chunk size %d: %w", k.ChunkSize, ErrMalformed)
	}
	return k, nil
}

// ChunkCount returns how many chunks content of size bytes seals to: at
// least one (an empty content is one empty last chunk).
func (k *StreamKey) ChunkCount(size int64) int64 {
	cs := int64(k.ChunkSize)
	if size <= 0 {
		return 1
	}
	return (size + cs - 1) / cs
}

func (k *StreamKey) version() uint8 {
	if k.Version == 0 {
		return StreamV2
	}
	return k.Version
}

// seal and open run the key's chunk cipher. XChaCha20-Poly1305 and
// AES-GCM may open in place (dst = box[:0]); secretbox may not overlap at
// all.
func (k *StreamKey) seal(dst, p []byte, n *[24]byte) []byte {
	switch k.version() {
	case StreamV1:
		return secretbox.Seal(dst, p, n, &k.Key)
	case StreamV3:
		return k.gcm().Seal(dst, n[24-gcmNonceSize:], p, nil)
	}
	a, _ := chacha20poly1305.NewX(k.Key[:]) // fails only on a key of the wrong length
	return a.Seal(dst, n[:], p, nil)
}

func (k *StreamKey) open(dst, box []byte, n *[24]byte) ([]byte, bool) {
	var out []byte
	var err error
	switch k.version() {
	case StreamV1:
		return secretbox.Open(dst, box, n, &k.Key)
	case StreamV3:
		out, err = k.gcm().Open(dst, n[24-gcmNonceSize:], box, nil)
	default:
		a, _ := chacha20poly1305.NewX(k.Key[:])
		out, err = a.Open(dst, n[:], box, nil)
	}
	return out, err == nil
}

// gcmTagSize is AES-GCM's tag: the same 16 bytes as Poly1305's.
const gcmTagSize = 16

// gcm returns the key's AES-256-GCM instance (safe for concurrent use:
// the standard library's GCM keeps no state between calls).
func (k *StreamKey) gcm() cipher.AEAD {
	if c := k.aes; c != nil {
		c.once.Do(func() { c.key, c.aead = k.Key, newGCM(&k.Key) })
		if c.key == k.Key {
			return c.aead
		}
	}
	return newGCM(&k.Key)
}

func newGCM(key *[32]byte) cipher.AEAD {
	b, _ := aes.NewCipher(key[:]) // fails only on a key of the wrong length
	a, _ := cipher.NewGCM(b)
	return a
}

func (k *StreamKey) nonce(i uint32, last bool) *[24]byte {
	var n [24]byte
	copy(n[:], k.Prefix[:])
	binary.BigEndian.PutUint32(n[streamPrefixSize:], i)
	if last {
		n[23] = 1
	}
	return &n
}

// SealChunk appends chunk i of the content, sealed, to dst. Every chunk but
// the last must be exactly ChunkSize bytes; the last holds 0..ChunkSize.
func (k *StreamKey) SealChunk(dst []byte, i uint32, last bool, p []byte) ([]byte, error) {
	if len(p) > int(k.ChunkSize) || (!last && len(p) != int(k.ChunkSize)) {
		return dst, fmt.Errorf("crypto: seal chunk %d: %d bytes: %w", i, len(p), ErrMalformed)
	}
	return k.seal(dst, p, k.nonce(i, last)), nil
}

// OpenChunk authenticates sealed chunk i and appends its plaintext to dst.
// It reports whether the chunk was sealed as the last one; a full-size chunk
// is tried as a middle chunk first, then as the last. Any tampering, a wrong
// index, or a chunk of another stream yields ErrOpen.
func (k *StreamKey) OpenChunk(dst []byte, i uint32, c []byte) ([]byte, bool, error) {
	full := int(k.ChunkSize) + ChunkOverhead
	if len(c) < ChunkOverhead || len(c) > full {
		return dst, false, fmt.Errorf("crypto: open chunk %d: %d bytes: %w", i, len(c), ErrMalformed)
	}
	if len(c) == full {
		if out, ok := k.open(dst, c, k.nonce(i, false)); ok {
			return out, false, nil
		}
	}
	if out, ok := k.open(dst, c, k.nonce(i, true)); ok {
		return out, true, nil
	}
	return dst, false, fmt.Errorf("crypto: open chunk %d: %w", i, ErrOpen)
}

// OpenChunkExact authenticates sealed chunk i, sealed as the last chunk
// if and only if last, and appends its plaintext to dst: one attempt
// where OpenChunk may need two, for a caller that knows the stream's
// length. A version-2 key may open in place (dst = c[:0], the plaintext
// overwriting the box; on failure the box is lost); a version-1 key
// (secretbox) forbids any overlap of dst and c.
func (k *StreamKey) OpenChunkExact(dst []byte, i uint32, last bool, c []byte) ([]byte, error) {
	if len(c) < ChunkOverhead || len(c) > int(k.ChunkSize)+ChunkOverhead ||
		(!last && len(c) != int(k.ChunkSize)+ChunkOverhead) {
		return dst, fmt.Errorf("crypto: open chunk %d: %d bytes: %w", i, len(c), ErrMalformed)
	}
	out, ok := k.open(dst, c, k.nonce(i, last))
	if !ok {
		return dst, fmt.Errorf("crypto: open chunk %d: %w", i, ErrOpen)
	}
	return out, nil
}

// InPlace reports whether OpenChunkExact may open a chunk over itself.
func (k *StreamKey) InPlace() bool { return k.version() != StreamV1 }

// SealChunkAt seals chunk i of content of size bytes read from r (a file),
// appending it to dst; it lets a sender resume a transfer at any chunk. It
// reports whether the chunk is the last.
func (k *StreamKey) SealChunkAt(dst []byte, r io.ReaderAt, size int64, i uint32) ([]byte, bool, error) {
	n := k.ChunkCount(size)
	if int64(i) >= n || n > MaxChunks {
		return dst, false, fmt.Errorf("crypto: seal chunk %d of %d: %w", i, n, ErrMalformed)
	}
	off := int64(i) * int64(k.ChunkSize)
	l := min(int64(k.ChunkSize), max(size-off, 0))
	buf := make([]byte, l)
	if m, err := r.ReadAt(buf, off); m < len(buf) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return dst, false, fmt.Errorf("crypto: seal chunk %d: read: %w", i, err)
	}
	last := int64(i) == n-1
	out, err := k.SealChunk(dst, i, last, buf)
	return out, last, err
}

// SealStream reads content from r until EOF and writes its sealed chunks to
// w back to back, holding at most two chunks in memory. It returns the
// number of plaintext bytes sealed.
func (k *StreamKey) SealStream(w io.Writer, r io.Reader) (int64, error) {
	cs := int(k.ChunkSize)
	cur, next := make([]byte, cs), make([]byte, cs)
	out := make([]byte, 0, cs+ChunkOverhead)
	n, err := io.ReadFull(r, cur)
	var total int64
	for i := uint32(0); ; i++ {
		last := false
		var nn int
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			last = true
		case err != nil:
			return total, fmt.Errorf("crypto: seal stream: read: %w", err)
		default:
			nn, err = io.ReadFull(r, next)
			last = nn == 0 && err == io.EOF
		}
		if i == MaxChunks && !last {
			return total, fmt.Errorf("crypto: seal stream: %w", ErrTooLarge)
		}
		out, _ = k.SealChunk(out[:0], i, last, cur[:n])
		if _, werr := w.Write(out); werr != nil {
			return total, fmt.Errorf("crypto: seal stream: write: %w", werr)
		}
		total += int64(n)
		if last {
			return total, nil
		}
		cur, next, n = next, cur, nn
	}
}

// OpenStream reads sealed chunks back to back from r (as SealStream wrote
// them), writing plaintext to w as each chunk authenticates. It fails with
// ErrTruncated if r ends before the last chunk, ErrOpen on any tampering or
// reordering, and ErrMalformed on bytes after the last chunk. Plaintext
// already written before an error must be discarded by the caller.
func (k *StreamKey) OpenStream(w io.Writer, r io.Reader) (int64, error) {
	full := int(k.ChunkSize) + ChunkOverhead
	in := make([]byte, full)
	out := make([]byte, 0, k.ChunkSize)
	var total int64
	for i := uint32(0); ; i++ {
		n, err := io.ReadFull(r, in)
		if err == io.EOF {
			return total, fmt.Errorf("crypto: open stream: after %d chunks: %w", i, ErrTruncated)
		}
		if err != nil && err != io.ErrUnexpectedEOF {
			return total, fmt.Errorf("crypto: open stream: read: %w", err)
		}
		p, last, oerr := k.OpenChunk(out[:0], i, in[:n])
		if oerr != nil {
			if n < full && errors.Is(oerr, ErrOpen) {
				return total, fmt.Errorf("crypto: open stream: chunk %d: %w (%w)", i, ErrTruncated, ErrOpen)
			}
			return total, fmt.Errorf("crypto: open stream: %w", oerr)
		}
		if _, werr := w.Write(p); werr != nil {
			return total, fmt.Errorf("crypto: open stream: write: %w", werr)
		}
		total += int64(len(p))
		if last {
			var one [1]byte
			if m, _ := io.ReadFull(r, one[:]); m != 0 {
				return total, fmt.Errorf("crypto: open stream: data after last chunk: %w", ErrMalformed)
			}
			return total, nil
		}
		if i == MaxChunks {
			return total, fmt.Errorf("crypto: open stream: %w", ErrTooLarge)
		}
	}
}
