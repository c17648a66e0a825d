package node

import (
	"errors"
	"testing"
)

// FuzzParseInvite: invite text comes from a scanned QR code or a pasted
// message, so it is stranger input. Anything but a valid, signed, unexpired
// invite is ErrBadInvite; nothing panics.
func FuzzParseInvite(f *testing.F) {
	clock := newTestClock()
	n := newTestNode(f, clock, nil)
	valid, err := n.Invite()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{valid, valid[:len(valid)-3], "", "imigee1:", "imigee1:e30", "imigee1:!!", string(peerVectorSeed(f, "invite_text"))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		iv, _, err := parseInvite(text, clock.Now())
		if err != nil {
			if !errors.Is(err, ErrBadInvite) {
				t.Fatalf("error %v is not ErrBadInvite", err)
			}
			return
		}
		if iv == nil || len(iv.Secret) != linkSecretSize {
			t.Fatalf("accepted a malformed invite: %+v", iv)
		}
	})
}
