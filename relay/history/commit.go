package history

import (
	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/internal/boltopt"
)

// maxBatch caps the writes one commit carries: 1024.
const maxBatch = 1024

// call is one write handed to the committer.
type call struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// submit runs fn in the next group commit and returns once it committed
// (or failed). Like relay/store's committer, and unlike bbolt's Batch, it
// waits for no timer: a lone write commits at once, and writes that arrive
// while a commit is fsyncing form the next one, so the group grows with
// the load. fn may run more than once (see run) and must derive everything
// from the transaction.
func (s *Store) submit(fn func(*bolt.Tx) error) error {
	s.cmu.RLock()
	if s.closed {
		s.cmu.RUnlock()
		return ErrClosed
	}
	c := call{fn: fn, done: make(chan error, 1)}
	s.calls <- c // the committer drains until Close, which waits for this RLock
	s.cmu.RUnlock()
	return <-c.done
}

// commitLoop is the committer goroutine: it takes whatever is queued (up
// to maxBatch) and commits it in one transaction, until Close closes the
// queue.
func (s *Store) commitLoop() {
	defer close(s.committerDone)
	for c := range s.calls {
		batch := []call{c}
	fill:
		for len(batch) < maxBatch {
			select {
			case c, ok := <-s.calls:
				if !ok {
					break fill
				}
				batch = append(batch, c)
			default:
				break fill
			}
		}
		s.run(batch)
	}
}

// run commits batch in one transaction. A write that fails makes the
// transaction roll back; it is then run alone (its own error is what its
// caller gets, as with bbolt's Batch) and the rest are committed without
// it.
func (s *Store) run(batch []call) {
	for len(batch) > 0 {
		fail := -1
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, c := range batch {
				if err := c.fn(tx); err != nil {
					fail = i
					return err
				}
			}
			return nil
		})
		if fail < 0 {
			if err == nil {
				boltopt.SyncDelay(s.cfg.NoSync, s.cfg.SyncDelay)
				s.commits.Add(1)
				s.writes.Add(int64(len(batch)))
			}
			for _, c := range batch {
				c.done <- err
			}
			return
		}
		c := batch[fail]
		batch = append(batch[:fail:fail], batch[fail+1:]...)
		err = s.db.Update(c.fn)
		if err == nil {
			boltopt.SyncDelay(s.cfg.NoSync, s.cfg.SyncDelay)
			s.commits.Add(1)
			s.writes.Add(1)
		}
		c.done <- err
	}
}
