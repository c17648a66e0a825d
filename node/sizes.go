package node

import (
	"github.com/imigee/imigee/crypto"
	proto "github.com/imigee/imigee/protocol"
)

// Size classes (P12). A relay stores only blobs of one of
// protocol.BlobSizes and refuses the rest, so a node pads what it posts:
// every small item (message, like, receipt, rejection, offer, contact
// update, parked link request) to protocol.SmallBlobSize, chunk blobs and
// small items too long for that class to protocol.BulkBlobSize. On a
// direct stream nothing is stored, so small items are padded to the small
// class when they fit and otherwise keep their own envelope bucket (a
// stream's frame caps are below the bulk class).

// sealSize is the size to pad a sealed envelope of an n-byte payload to:
// the small class when it fits, else for a mailbox the class that holds it
// (0 if none: the relay would refuse it), else its own bucket.
func sealSize(n int, mailbox bool) int {
	c := crypto.PaddedSize(n)
	if c <= proto.SmallBlobSize {
		return proto.SmallBlobSize
	}
	if mailbox {
		return proto.BlobClass(c)
	}
	return c
}

// padLinkBlob pads a length-prefixed LinkRequest frame with zeros to its
// size class (the reader stops after the frame).
func padLinkBlob(b []byte) []byte {
	c := proto.BlobClass(len(b))
	if c <= len(b) {
		return b
	}
	return append(b, make([]byte, c-len(b))...)
}
