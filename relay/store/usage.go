package store

import "github.com/imigee/imigee/crypto"

// Usage returns the data bytes mailbox m holds and the bytes the store
// holds in all, from the in-memory index (no disk access), for admission
// decisions made before a Put (relay storage fairness).
func (s *Store) Usage(m crypto.MailboxID) (mailbox, total int64) {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	return s.idx.counter(m).bytes, s.idx.totals.bytes
}
