package history

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/crypto"
)

// Op is one write the relay's gossip writer hands over: an announcement to
// store, or forget secrets to apply.
type Op struct {
	Announce *Announce
	Forget   []Secret
}

// Applied says what Apply did.
type Applied struct {
	Stored  int // token entries added
	Erased  int // announcements erased by forgets
	Skipped int // ops refused whole (over MaxBytes, invalid)
}

// Apply performs ops in one write transaction: the relay's gossip writer
// batches what other relays sent, so a burst of gossip costs a commit per
// batch rather than per message. It goes through the committer like
// Store and Late, so it shares their commit and fsync instead of taking
// bbolt's writer lock for one of its own. An op over MaxBytes or invalid
// is skipped whole (counted) and the others still apply; any other error
// aborts the whole batch.
func (s *Store) Apply(ops []Op) (Applied, error) {
	var res Applied
	w := &writer{s: s}
	err := s.submit(func(tx *bolt.Tx) error {
		// The committer may run this again alone after a failure in its
		// group: undo the previous run first (as batch does).
		w.reset()
		res = Applied{}
		for _, op := range ops {
			switch {
			case op.Announce != nil:
				if checkAnnounce(op.Announce) != nil {
					res.Skipped++
					continue
				}
				n, err := w.put(tx, op.Announce)
				if errors.Is(err, ErrFull) {
					res.Skipped++
					continue
				}
				if err != nil {
					return err
				}
				res.Stored += n
			case len(op.Forget) > 0:
				for _, sc := range op.Forget {
					if len(sc.Secret) != TagSize {
						res.Skipped++
						continue
					}
					tag := crypto.HistoryForgetTag(sc.Secret)
					n, d, err := s.forgetTx(tx, sc.Epoch, tag[:])
					if err != nil {
						return err
					}
					res.Erased += n
					w.d.bytes -= d.bytes
					w.d.entries -= d.entries
				}
			}
		}
		return nil
	})
	if err != nil {
		s.bytes.Add(-w.reserved)
		if errors.Is(err, bolt.ErrDatabaseNotOpen) || errors.Is(err, ErrClosed) {
			return Applied{}, ErrClosed
		}
		return Applied{}, fmt.Errorf("history: apply: %w", err)
	}
	s.bytes.Add(w.d.bytes)
	s.entries.Add(w.d.entries)
	return res, nil
}
