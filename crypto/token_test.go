package crypto

import (
	"errors"
	"testing"
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
