// Package crypto holds every cryptographic construction of Imigee. It is
// pure: no I/O, no clocks it reads on its own (except the convenience
// wrappers NewIdentity and Seal, which stamp time.Now; their ...At/Sealer
// forms take the time), and randomness only through an io.Reader parameter,
// so tests and vectors are deterministic. It imports nothing of Imigee's.
// docs/CRYPTO.md is the specification: byte layouts, key schedule, and what
// each key theft exposes.
//
// # Pieces
//
//   - Identity and Card: an Ed25519 signing key and an X25519 box key bound
//     by a signature (the device card friends exchange when linking).
//   - PairKeys (DerivePair): X25519 between the two box keys, HKDF-SHA256
//     with the sorted box keys as salt, one sub-key per purpose: proximity
//     (ratcheted daily from ProximityBaseDay, old days erased), mailbox
//     (per-direction daily Ed25519 keys whose hash is the MailboxID),
//     rendezvous records, messages, hints and match proofs.
//   - Proximity tokens (Token, Tokenizer, FriendTokens): 8 bytes of
//     HMAC-SHA256 under a per-epoch key; cells come from package
//     crypto/geo.
//   - Envelopes (Sealer, Recipient, Seal, Open): sealed sender, padded to
//     size buckets, payload encrypted once under a key from an ephemeral
//     and a static X25519.
//   - Streams (StreamKey): STREAM over XChaCha20-Poly1305 (version 2;
//     version-1 keys, secretbox, are still opened) for large content,
//     chunk by chunk, resumable at any index.
//   - Rendezvous records (PairKeys.SealRecord/OpenRecord): fixed 512-byte
//     sealed records under a per-epoch key.
//   - Prekeys (SignedPrekey): daily signed box keys that give stored
//     envelopes forward secrecy once erased.
//   - SafetyNumber: a 25-digit fingerprint of a pair, order-independent.
//   - Mailbox authorisation (mailbox.go): the signature a mailbox key makes
//     over a relay challenge.
//   - Contact matching (contact.go): the sorted pair of two handles through
//     a chain of verifiable OPRFs (RFC 9497, ristretto255, circl), each
//     stage keyed by a different relay; the output names a pending entry
//     and seals its offer. A proof of work binds each evaluation batch.
//
// # Concurrency
//
// Identity, Card, Sealer, StreamKey and SignedPrekey are immutable and safe
// for concurrent use. PairKeys and Recipient guard their mutable state (the
// held proximity day; the sender-secret cache) with a mutex. Tokenizer is
// not safe for concurrent use: give each goroutine its own.
//
// # Properties and the tests that prove them
//
//   - P1 (content opened only by recipients): TestEnvelopeWrongRecipient,
//     TestEnvelopeTamper, TestStreamTamper (both versions),
//     TestStreamVersions, TestVectors/envelopes.json, streams.json and
//     streams-v1.json.
//   - P3 (tokens unlinkable across epochs and cells): TestTokens (tokens
//     change with epoch, cell and level; both ends agree; another pair's
//     tokens for the same cells are unrelated: TestTokensMatchNearby);
//     TestRatchetErases (a stolen store cannot rebuild an erased day).
//   - P12 (sealed sender, padded sizes): TestEnvelopeHidesSender,
//     TestEnvelopeRoundTripAndBuckets, TestEnvelopeWrongSenderKey.
//   - Forward secrecy of stored items: TestEnvelopeToPrekey.
//   - Offline mailboxes per pair, per direction, per day: TestMailboxDirections.
//   - End-to-end match confirmation: TestProof (no reflection, no stranger).
//   - P5/P6 (contacts blinded; one relay cannot test a guessed number):
//     TestContactMutualPair, TestContactOneKeyCannotConfirmGuess,
//     TestContactVerifiable, TestContactVectors (testdata/contacts.json).
//
// Every parser and opener has a fuzz target seeded from testdata
// (fuzz_test.go). Test vectors are regenerated from fixed seeds with
// `go test ./crypto -run TestVectors -update` and otherwise checked by one
// loop (TestVectors).
//
// # Caveats
//
//   - DerivePair alone lets a thief of the long-term identity key rebuild
//     every past proximity token (the static secret is re-derivable). Use
//     DerivePairWithSecret with a link-time secret that both ends erase.
//   - Open authenticates the sender's box key, not that it is a friend: the
//     caller checks Opened.SenderBox against its friend list and drops
//     duplicates (ItemID) and stale items (Created) itself.
//   - As with nacl/box, the recipient could forge an envelope "from" any
//     sender to itself (the authentication is deniable, not a signature).
//     Receipts that must convince third parties need Identity.Sign.
//   - Token collisions between unrelated pairs (2^-64 per pair of tokens)
//     are harmless: every match is confirmed end to end with Proof.
package crypto
