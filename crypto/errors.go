package crypto

import "errors"

// Sentinel errors callers branch on. Every error this package returns either
// is one of these or wraps one (test with errors.Is); the wrapping text adds
// context but never key material.
var (
	// ErrMalformed means an encoding (card, identity, prekey, pair keys,
	// envelope or chunk framing) has the wrong length, version or layout.
	ErrMalformed = errors.New("crypto: malformed input")

	// ErrBadSignature means a card or prekey signature does not verify.
	ErrBadSignature = errors.New("crypto: bad signature")

	// ErrOpen means an envelope or chunk failed authentication: it was
	// tampered with, truncated, reordered, meant for another recipient or
	// key, or sealed by a different sender key than it claims.
	ErrOpen = errors.New("crypto: cannot open")

	// ErrKeyErased means the caller asked for a proximity key of a day that
	// has already been ratcheted past and erased; it can never be recovered.
	ErrKeyErased = errors.New("crypto: key for that day was erased")

	// ErrTruncated means a stream ended before its last chunk.
	ErrTruncated = errors.New("crypto: stream truncated")

	// ErrTooLarge means a payload exceeds a named size limit.
	ErrTooLarge = errors.New("crypto: input too large")

	// ErrWeakKey means an X25519 exchange produced the all-zero secret
	// (a low-order public key), which must never be used as key material.
	ErrWeakKey = errors.New("crypto: weak or invalid public key")
)
