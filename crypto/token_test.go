package crypto

import (
	"errors"
	"slices"
	"testing"

	"github.com/imigee/imigee/crypto/geo"
)

func TestTokens(t *testing.T) {
	_, _, ab, ba := testPair(t)
	const epoch = 20600 * 144
	near := []uint64{11, 12, 13}
	h1, n1, err := FriendTokens(ab, epoch, DefaultEpochSeconds, 16, 10, near)
	if err != nil {
		t.Fatal(err)
	}
	h2, n2, err := FriendTokens(ba, epoch, DefaultEpochSeconds, 16, 10, near)
	if err != nil || h1 != h2 || len(n1) != 3 || n1[2] != n2[2] {
		t.Fatal("both ends must compute the same tokens for the same cells")
	}
	ek, _ := ab.EpochTokenKey(epoch, DefaultEpochSeconds)
	if Token(ek, 16, 10) != h1 || Token(ek, 17, 10) == h1 || Token(ek, 16, 11) != n1[0] {
		t.Fatal("Token disagrees with FriendTokens or ignores the level")
	}
	h3, _, _ := FriendTokens(ab, epoch+1, DefaultEpochSeconds, 16, 10, near)
	if h3 == h1 {
		t.Fatal("token does not change with the epoch")
	}
	var tz Tokenizer
	tz.Reset(&ek)
	got := tz.CellTokens(nil, 16, 10, near)
	if len(got) != 4 || got[0] != h1 || got[3] != n1[2] {
		t.Fatal("Tokenizer.CellTokens mismatch")
	}
	ek2, _ := ab.EpochTokenKey(epoch+1, DefaultEpochSeconds)
	tz.Reset(&ek2)
	if tz.Token(16, 10) != h3 {
		t.Fatal("Reset did not rekey")
	}
	tz.SetFriend(ba, epoch+1, DefaultEpochSeconds)
	if tz.Token(16, 10) != h3 {
		t.Fatal("SetFriend disagrees with EpochTokenKey")
	}
	if err := tz.SetFriend(ab, epoch, 0); err == nil {
		t.Fatal("zero epoch length accepted")
	}
	ab.Advance(20601)
	if err := tz.SetFriend(ab, epoch, DefaultEpochSeconds); !errors.Is(err, ErrKeyErased) {
		t.Fatalf("SetFriend of an erased day: %v", err)
	}
	if _, _, err := FriendTokens(ab, epoch, DefaultEpochSeconds, 16, 10, near); err == nil {
		t.Fatal("tokens of an erased day")
	}
}

// Two friends 40 m apart announce here+near tokens from geo.Cells; the
// rendezvous rule (here = here or here = near) must find them, and a third
// friend of one of them in the same place must produce unrelated tokens.
func TestTokensMatchNearby(t *testing.T) {
	_, _, ab, ba := testPair(t)
	const epoch = 20600 * 144
	lat, lng := 48.8584, 2.2945
	lat2, lng2 := geo.Destination(lat, lng, 60, 40)
	ah, an := geo.Cells(lat, lng, geo.DefaultLevel)
	bh, bn := geo.Cells(lat2, lng2, geo.DefaultLevel)
	aHere, aNear, _ := FriendTokens(ab, epoch, DefaultEpochSeconds, geo.DefaultLevel, ah, an)
	bHere, bNear, _ := FriendTokens(ba, epoch, DefaultEpochSeconds, geo.DefaultLevel, bh, bn)
	if !(aHere == bHere || slices.Contains(bNear, aHere) || slices.Contains(aNear, bHere)) {
		t.Fatal("friends 40 m apart do not match")
	}
	c := testIdentity(t, "carol")
	ac, _ := DerivePair(testIdentity(t, "alice"), c.Card())
	cHere, cNear, _ := FriendTokens(ac, epoch, DefaultEpochSeconds, geo.DefaultLevel, ah, an)
	for _, x := range append(cNear, cHere) {
		if x == aHere || slices.Contains(aNear, x) {
			t.Fatal("two pairs share a token for the same cell")
		}
	}
}
