package rendezvous

import (
	"encoding/binary"
	"testing"
)

// BenchmarkAnnounce measures announcements per second on one core: each op
// is one friend's announcement of 5 tokens (1 here, 4 near) with a 200-byte
// record, spread over many sessions and cells, matching nothing.
func BenchmarkAnnounce(b *testing.B) {
	e, _, ep := newEngine(b, Config{MaxEntries: 1 << 30, MaxRecordBytes: 1 << 40, TokenBudget: 1 << 30})
	rec := make([]byte, 200)
	sessions := make([]*Session, 1024)
	for i := range sessions {
		sessions[i] = e.NewSession(nil, nil)
	}
	anns := make([]Announcement, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		toks := make([]Token, 5)
		for j := range toks {
			binary.BigEndian.PutUint64(toks[j].Value[:], uint64(i)*8+uint64(j))
			toks[j].Here = j == 0
		}
		anns[0] = Announcement{Tokens: toks, Record: rec}
		if _, _, _, err := e.Announce(sessions[i%len(sessions)], secs, ep, anns); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "announcements/s")
}

// BenchmarkMatch measures matches per second: each op is one announcement
// whose here token meets a waiting here token of another session (both
// sides are notified).
func BenchmarkMatch(b *testing.B) {
	e, _, ep := newEngine(b, Config{MaxEntries: 1 << 30, MaxRecordBytes: 1 << 40, TokenBudget: 1 << 30})
	rec := make([]byte, 200)
	waiting, arriving := e.NewSession(nil, nil), e.NewSession(nil, nil)
	n := b.N
	if n > 1<<20 {
		n = 1 << 20
	}
	for i := 0; i < n; i++ {
		var t Token
		binary.BigEndian.PutUint64(t.Value[:], uint64(i))
		t.Here = true
		e.Announce(waiting, secs, ep, []Announcement{{Tokens: []Token{t}, Record: rec}})
	}
	matches := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var t Token
		binary.BigEndian.PutUint64(t.Value[:], uint64(i%n))
		t.Here = true
		if i > 0 && i%n == 0 {
			b.StopTimer()
			e.Withdraw(arriving)
			b.StartTimer()
		}
		_, mine, _, err := e.Announce(arriving, secs, ep, []Announcement{{Tokens: []Token{t}, Record: rec}})
		if err != nil {
			b.Fatal(err)
		}
		matches += len(mine)
	}
	b.ReportMetric(float64(matches)/b.Elapsed().Seconds(), "matches/s")
}

// BenchmarkChurn is the pattern of a relay network's gossip: each op is a
// phone's new session announcing its 4 friends' tokens (1 here and 8 near
// each, half of them the phone's tokens before, half new cells) with a
// shared record, then the close of its previous session. 2,000 phones are
// live at a time, so the engine holds about 72,000 entries.
func BenchmarkChurn(b *testing.B) {
	e, _, ep := newEngine(b, Config{MaxEntries: 1 << 30, MaxRecordBytes: 1 << 40, TokenBudget: 1 << 30})
	const phones, friends, perFriend = 2000, 4, 9
	rec, shared := make([]byte, 48), make([]byte, 200)
	prev := make([]*Session, phones)
	cell := make([]uint64, phones)
	anns := func(p int) []Announcement {
		as := make([]Announcement, friends)
		for f := range as {
			toks := make([]Token, perFriend)
			for j := range toks {
				// Tokens of the phone's cell: they change with cell[p].
				c := cell[p] + uint64(j/(perFriend/2+1))
				binary.BigEndian.PutUint64(toks[j].Value[:], uint64(p)<<40|uint64(f)<<32|c<<8|uint64(j))
				toks[j].Here = j == 0
			}
			as[f] = Announcement{Tokens: toks, Record: rec}
		}
		return as
	}
	for p := range prev {
		prev[p] = e.NewSession(nil, nil)
		if _, _, _, err := e.AnnounceShared(prev[p], secs, ep, shared, anns(p)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p := i % phones
		cell[p]++
		s := e.NewSession(nil, nil)
		if _, _, _, err := e.AnnounceShared(s, secs, ep, shared, anns(p)); err != nil {
			b.Fatal(err)
		}
		e.Close(prev[p])
		prev[p] = s
	}
}
