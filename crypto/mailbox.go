package crypto

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
)

// MailboxIDSize is the length of a mailbox ID on the wire.
const MailboxIDSize = 16

// MailboxID names one relay mailbox. It is the truncated hash of the
// mailbox's Ed25519 public key, so whoever can sign for the key can prove
// the mailbox is theirs without the relay learning anything else.
type MailboxID [MailboxIDSize]byte

// MailboxOp names the operation a mailbox signature authorises, so a
// signature for one operation cannot be replayed for another.
type MailboxOp byte

// Mailbox operations that require proof of control.
const (
	OpFetch     MailboxOp = 1
	OpAck       MailboxOp = 2
	OpSubscribe MailboxOp = 3
	OpForget    MailboxOp = 4
)

// ErrMailboxAuth is returned when a mailbox proof does not verify.
var ErrMailboxAuth = errors.New("crypto: mailbox proof does not verify")

const (
	mailboxIDDomain   = "imigee/mailbox-id/v1"
	mailboxAuthDomain = "imigee/mailbox-auth/v1"
)

// MailboxIDFromPub returns SHA-256(domain ‖ pub)[:16].
func MailboxIDFromPub(pub ed25519.PublicKey) MailboxID {
	h := sha256.New()
	h.Write([]byte(mailboxIDDomain))
	h.Write(pub)
	var id MailboxID
	copy(id[:], h.Sum(nil))
	return id
}

// MailboxAuthMessage is the byte string a mailbox key signs to authorise op
// under a relay's single-use challenge: domain ‖ op ‖ len(challenge) ‖
// challenge ‖ id.
func MailboxAuthMessage(op MailboxOp, challenge []byte, id MailboxID) []byte {
	m := make([]byte, 0, len(mailboxAuthDomain)+2+len(challenge)+MailboxIDSize)
	m = append(m, mailboxAuthDomain...)
	m = append(m, byte(op), byte(len(challenge)))
	m = append(m, challenge...)
	return append(m, id[:]...)
}

// SignMailboxAuth signs MailboxAuthMessage with the mailbox private key.
func SignMailboxAuth(priv ed25519.PrivateKey, op MailboxOp, challenge []byte) (MailboxID, []byte) {
	id := MailboxIDFromPub(priv.Public().(ed25519.PublicKey))
	return id, ed25519.Sign(priv, MailboxAuthMessage(op, challenge, id))
}

// VerifyMailboxAuth checks that pub hashes to id and that sig authorises op
// under challenge. It returns ErrMailboxAuth on any mismatch.
func VerifyMailboxAuth(op MailboxOp, challenge []byte, id MailboxID, pub, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return ErrMailboxAuth
	}
	if MailboxIDFromPub(pub) != id {
		return ErrMailboxAuth
	}
	if !ed25519.Verify(pub, MailboxAuthMessage(op, challenge, id), sig) {
		return ErrMailboxAuth
	}
	return nil
}
