package rendezvous

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults of Config. Each Config field names the one it takes.
const (
	// DefaultSkew is the clock-skew window around an epoch: ±60 s.
	DefaultSkew = 60 * time.Second
	// DefaultMaxEntries caps the token entries held in memory, local and
	// gossiped together: 1,000,000 (about 100 MiB with records shared per
	// announcement).
	DefaultMaxEntries = 1_000_000
	// DefaultMaxRecordBytes caps the sealed-record bytes held in memory:
	// 256 MiB.
	DefaultMaxRecordBytes = 256 << 20
	// DefaultTokenBudget caps the distinct tokens one session may announce
	// per epoch: 4096 (the design needs about 5 per friend; 500 friends ×
	// 8 tokens fit). It is what limits a malicious friend's cell scanning.
	DefaultTokenBudget = 4096
	// MinEpochSeconds and MaxEpochSeconds bound the epoch lengths the engine
	// accepts: 60 s to 1 day (protocol.MinEpochSeconds/MaxEpochSeconds).
	MinEpochSeconds = 60
	MaxEpochSeconds = 86400
	// TokenSize is the length of a token: 8 bytes.
	TokenSize = 8
)

// Sentinel errors. Announce fails with one of these (possibly wrapped) and
// then changes nothing.
var (
	// ErrStale: the epoch is outside the skew window of the engine's clock.
	ErrStale = errors.New("rendezvous: epoch outside the accepted window")
	// ErrBadEpoch: the epoch length is outside [MinEpochSeconds, MaxEpochSeconds].
	ErrBadEpoch = errors.New("rendezvous: epoch length out of range")
	// ErrBudget: the session's token budget for the epoch would be exceeded.
	ErrBudget = errors.New("rendezvous: token budget for this epoch exceeded")
	// ErrFull: the engine's memory cap would be exceeded.
	ErrFull = errors.New("rendezvous: engine full")
	// ErrClosedSession: the session was withdrawn for good (Close).
	ErrClosedSession = errors.New("rendezvous: session closed")
	// ErrMemory: the session's Account refused the bytes of the new
	// entries and records (the relay's memory budget).
	ErrMemory = errors.New("rendezvous: memory budget exhausted")
)

// Account is a memory accountant a session charges its entries and records
// to (the relay's memory budget). Reserve is called with the engine's lock
// held, so it must not call back into the engine.
type Account interface {
	Reserve(n int) error
	Release(n int)
}

// EntryBytes is what one token entry is charged to its session's Account:
// 128 bytes (the map slot with its inline first entry, the session's token
// list; measured 100–150 B per entry, docs/relay.md "Sizing"; 118 B with
// records for 4 friends × 9 tokens since buckets hold their first entry
// inline, 125 B before). RecordOverhead is charged
// per record on top of its bytes: 64.
const (
	EntryBytes     = 128
	RecordOverhead = 64
)

// Config configures an Engine. Zero fields take the defaults named.
type Config struct {
	// Skew is how far outside its own interval an epoch is still accepted,
	// and how long after its end its entries live. Default DefaultSkew (60 s).
	Skew time.Duration
	// EpochSeconds, if not 0, is the only epoch length accepted: a client
	// cannot spread announcements over many lengths to multiply its
	// budget. 0 accepts every length in [MinEpochSeconds, MaxEpochSeconds].
	EpochSeconds uint32
	// MaxEntries caps token entries in memory. Default DefaultMaxEntries.
	MaxEntries int
	// MaxRecordBytes caps sealed-record bytes in memory. Default
	// DefaultMaxRecordBytes.
	MaxRecordBytes int64
	// TokenBudget caps distinct tokens per session (or per Group) per
	// epoch. Default DefaultTokenBudget.
	TokenBudget int
	// Now is the engine's clock. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Skew <= 0 {
		c.Skew = DefaultSkew
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	if c.MaxRecordBytes <= 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.TokenBudget <= 0 {
		c.TokenBudget = DefaultTokenBudget
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Token is one proximity token with its kind: Here for the device's own
// cell, near (Here == false) for a neighbouring cell.
type Token struct {
	Value [TokenSize]byte
	Here  bool
}

// Announcement is one friend's tokens with the record sealed for that
// friend. The engine never looks inside Record.
type Announcement struct {
	Tokens []Token
	Record []byte
}

// Match tells a session that its token Token in Epoch matched another
// session's token; Record is the other side's sealed record (or its key
// share) and Shared the other side's shared record, if it sent one.
type Match struct {
	EpochSeconds uint32
	Epoch        uint64
	Token        [TokenSize]byte
	Record       []byte
	Shared       []byte
}

// Delivery is a Match owed to another session (the one announced earlier).
type Delivery struct {
	To    *Session
	Match Match
}

// epochKey names one epoch of one length.
type epochKey struct {
	seconds uint32
	epoch   uint64
}

// end is when the epoch's entries die: its end plus the skew.
func (k epochKey) end(skew time.Duration) time.Time {
	return time.Unix(int64(k.epoch+1)*int64(k.seconds), 0).Add(skew)
}

// entry is one session's token in one epoch.
type entry struct {
	sess   *Session
	here   bool
	record *record
}

// record is shared by the entries of one announcement; shared, if set, by
// the records of one AnnounceShared call.
type record struct {
	data   []byte
	refs   int
	shared *record
	acct   Account // charged len(data)+RecordOverhead; nil = none
}

// bucket is the entries of one token in one epoch, at most one per
// session. Nearly every token is held by one session (two or three when
// friends meet or a phone's next session overlaps its last), so the first
// entry lives in the map slot itself: a new token costs no allocation and
// a lookup no pointer to follow.
type bucket struct {
	one  entry   // the first entry; sess == nil when the bucket is empty
	more []entry // the others
}

func (b *bucket) size() int {
	if b.one.sess == nil {
		return 0
	}
	return 1 + len(b.more)
}

func (b *bucket) at(i int) *entry {
	if i == 0 {
		return &b.one
	}
	return &b.more[i-1]
}

// find returns the index of s's entry, or -1.
func (b *bucket) find(s *Session) int {
	for i := range b.size() {
		if b.at(i).sess == s {
			return i
		}
	}
	return -1
}

func (b *bucket) add(en entry) {
	if b.one.sess == nil {
		b.one = en
		return
	}
	b.more = append(b.more, en)
}

// remove drops entry i; the last entry takes its place.
func (b *bucket) remove(i int) {
	last := len(b.more) - 1
	if last < 0 {
		b.one = entry{}
		return
	}
	*b.at(i) = b.more[last]
	b.more[last] = entry{}
	b.more = b.more[:last]
	if last == 0 {
		b.more = nil
	}
}

// epochIndex holds one epoch's buckets. A bucket is a map value, so a
// change is written back (or the key deleted when it emptied).
type epochIndex struct {
	buckets map[[TokenSize]byte]bucket
	end     time.Time
}

// Group shares one token budget among sessions, so a client cannot
// multiply its budget by opening more sessions (the relay uses one group
// per connection). Its zero value is not usable; see NewGroup.
type Group struct {
	// guarded by Engine.mu
	counts map[epochKey]int
	total  int // entries held across all epochs and epoch lengths

	limit  int    // cap on total; 0 = none
	parent *Group // the source this group's connection comes from, or nil
}

// NewGroup returns an empty budget group.
func NewGroup() *Group { return &Group{counts: make(map[epochKey]int)} }

// NewLimitedGroup returns a group whose live entries, across all epochs,
// are capped at limit (0 = no cap) and also count against parent's cap (a
// parent is typically shared by the connections of one source address).
// Announces beyond either cap fail with ErrBudget.
func NewLimitedGroup(limit int, parent *Group) *Group {
	g := NewGroup()
	g.limit, g.parent = limit, parent
	return g
}

// Held returns the entries g holds (tests, metrics).
func (e *Engine) Held(g *Group) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return g.total
}

// room reports whether g (and its parent) can take n more entries.
func (g *Group) room(n int) bool {
	for ; g != nil; g = g.parent {
		if g.limit > 0 && g.total+n > g.limit {
			return false
		}
	}
	return true
}

// Session is one announcer: a client stream at this relay, or a remote
// session learnt by gossip. Its zero value is not usable; see NewSession.
type Session struct {
	owner any
	group *Group
	acct  Account // nil = entries charged to no accountant
	// guarded by Engine.mu
	held   []heldEpoch // the tokens s holds, per epoch (rarely more than two)
	closed bool
	n      int // entries held
}

// heldEpoch lists the tokens a session holds in one epoch, each once; the
// epoch's buckets say whether as here or near. Withdraw walks the list;
// whether s holds a token is asked of its bucket.
type heldEpoch struct {
	k    epochKey
	toks [][TokenSize]byte
}

func (s *Session) heldIn(k epochKey) *heldEpoch {
	for i := range s.held {
		if s.held[i].k == k {
			return &s.held[i]
		}
	}
	return nil
}

func (s *Session) dropEpoch(k epochKey) {
	for i := range s.held {
		if s.held[i].k == k {
			last := len(s.held) - 1
			s.held[i] = s.held[last]
			s.held[last] = heldEpoch{}
			s.held = s.held[:last]
			return
		}
	}
}

// Owner returns the value given to NewSession.
func (s *Session) Owner() any { return s.owner }

// Stats are aggregate figures for metrics.
type Stats struct {
	Entries     int   // token entries in memory
	RecordBytes int64 // sealed-record bytes in memory
	Epochs      int   // live epochs
	Sessions    int   // sessions holding entries
	Announced   uint64
	Matches     uint64 // match events (each notifies two sides)
	Expired     uint64 // entries dropped by Sweep
	Refused     uint64 // announces refused (stale, budget, full)
}

// Engine matches tokens. All methods are safe for concurrent use; one mutex
// guards all state, and no callback runs under it.
type Engine struct {
	cfg Config

	mu       sync.Mutex // guards everything below
	epochs   map[epochKey]*epochIndex
	sessions map[*Session]struct{} // sessions holding entries
	entries  int
	recBytes int64
	st       Stats
}

// New returns an empty engine.
func New(cfg Config) *Engine {
	return &Engine{
		cfg:      cfg.withDefaults(),
		epochs:   make(map[epochKey]*epochIndex),
		sessions: make(map[*Session]struct{}),
	}
}

// NewSession returns a session; owner is returned by Owner so the caller
// can route deliveries (nil for sessions whose matches are not delivered
// here, such as remote ones). If g is not nil the session's tokens count
// against g's budget (shared with g's other sessions) instead of its own.
func (e *Engine) NewSession(owner any, g *Group) *Session {
	return &Session{owner: owner, group: g}
}

// NewAccountedSession is NewSession whose entries and records are reserved
// with a before they are allocated (EntryBytes per entry, record bytes plus
// RecordOverhead per record) and released when they die (Withdraw, Close,
// expiry). An announce a refuses fails with ErrMemory and changes nothing.
func (e *Engine) NewAccountedSession(owner any, g *Group, a Account) *Session {
	s := e.NewSession(owner, g)
	s.acct = a
	return s
}

func (s *Session) release(n int) {
	if s.acct != nil && n > 0 {
		s.acct.Release(n)
	}
}

// budgetUsed is what s (or its group) holds in epoch k.
func (s *Session) budgetUsed(k epochKey) int {
	if s.group != nil {
		return s.group.counts[k]
	}
	if h := s.heldIn(k); h != nil {
		return len(h.toks)
	}
	return 0
}

// charge adds n to the group's count for k (n may be negative).
func (s *Session) charge(k epochKey, n int) {
	if s.group == nil {
		return
	}
	if c := s.group.counts[k] + n; c > 0 {
		s.group.counts[k] = c
	} else {
		delete(s.group.counts, k)
	}
	for g := s.group; g != nil; g = g.parent {
		g.total += n
	}
}

// Accepts reports whether an epoch of that length is inside the window at
// the engine's clock: from one skew before its start to one skew after its
// end.
func (e *Engine) Accepts(epochSeconds uint32, epoch uint64) error {
	if epochSeconds < MinEpochSeconds || epochSeconds > MaxEpochSeconds {
		return ErrBadEpoch
	}
	if e.cfg.EpochSeconds != 0 && epochSeconds != e.cfg.EpochSeconds {
		return ErrBadEpoch
	}
	now := e.cfg.Now()
	start := time.Unix(int64(epoch)*int64(epochSeconds), 0)
	if epoch > uint64(1<<62)/uint64(epochSeconds) {
		return ErrStale
	}
	k := epochKey{epochSeconds, epoch}
	if now.Before(start.Add(-e.cfg.Skew)) || !now.Before(k.end(e.cfg.Skew)) {
		return ErrStale
	}
	return nil
}

// Announce adds the announcements of s for one epoch and matches them. It is
// all or nothing: on error nothing changed. It returns the number of new
// token entries plus the entries that became here, the matches for s, and
// the matches owed to other sessions. A token s already announced in this
// epoch is not added again (a re-announce is cheap and idempotent); a near
// token repeated as here (in a later call, or in the same call) becomes
// here, takes the record of the announcement that made it here, and is
// matched again against the near entries of other sessions. A here entry
// never goes back to near within its epoch.
func (e *Engine) Announce(s *Session, epochSeconds uint32, epoch uint64, anns []Announcement) (int, []Match, []Delivery, error) {
	return e.AnnounceShared(s, epochSeconds, epoch, nil, anns)
}

// AnnounceShared is Announce with a shared record: opaque bytes held once
// for every announcement of this call and handed, with the announcement's
// own record, to whoever matches one of its tokens. Imigee nodes send
// their (sealed) record once here and only a small key share per friend
// in Announcement.Record.
func (e *Engine) AnnounceShared(s *Session, epochSeconds uint32, epoch uint64, shared []byte, anns []Announcement) (int, []Match, []Delivery, error) {
	if err := e.Accepts(epochSeconds, epoch); err != nil {
		e.mu.Lock()
		e.st.Refused++
		e.mu.Unlock()
		return 0, nil, nil, err
	}
	k := epochKey{epochSeconds, epoch}
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.closed {
		return 0, nil, nil, ErrClosedSession
	}
	e.sweepLocked()
	// Count what is new before changing anything.
	h := s.heldIn(k)
	idx := e.epochs[k]
	hereIn, up := e.upgradesLocked(s, idx, h, anns)
	newTok := 0
	var recBytes int64
	nrec := 0
	var seen map[[TokenSize]byte]struct{}
	for _, a := range anns {
		added := false
		for _, t := range a.Tokens {
			if !t.Here && hereIn[t.Value] {
				continue // the token's here occurrence decides (below)
			}
			if seen == nil {
				// Sized for every token of the call: growing it was 14 %
				// of an announce in a simulated day (issue 14).
				seen = make(map[[TokenSize]byte]struct{}, countTokens(anns))
			}
			if holds(s, idx, h, t.Value) {
				// Only the first here occurrence of a held near token
				// upgrades it (and makes a record), as applied below.
				if _, done := seen[t.Value]; up[t.Value] && !done {
					seen[t.Value] = struct{}{}
					added = true
				}
				continue
			}
			if _, ok := seen[t.Value]; ok {
				continue
			}
			seen[t.Value] = struct{}{}
			newTok++
			added = true
		}
		if added {
			recBytes += int64(len(a.Record))
			nrec++
		}
	}
	if newTok+len(up) > 0 && len(shared) > 0 {
		recBytes += int64(len(shared))
		nrec++
	}
	if used := s.budgetUsed(k); used+newTok > e.cfg.TokenBudget {
		e.st.Refused++
		return 0, nil, nil, fmt.Errorf("rendezvous: %d tokens in epoch (budget %d): %w", used+newTok, e.cfg.TokenBudget, ErrBudget)
	}
	if s.group != nil && !s.group.room(newTok) {
		e.st.Refused++
		return 0, nil, nil, fmt.Errorf("rendezvous: live entries of this connection or source: %w", ErrBudget)
	}
	if e.entries+newTok > e.cfg.MaxEntries || e.recBytes+recBytes > e.cfg.MaxRecordBytes {
		e.st.Refused++
		return 0, nil, nil, ErrFull
	}
	if newTok == 0 && len(up) == 0 {
		return 0, nil, nil, nil
	}
	if s.acct != nil {
		cost := newTok*EntryBytes + int(recBytes) + nrec*RecordOverhead
		if err := s.acct.Reserve(cost); err != nil {
			e.st.Refused++
			return 0, nil, nil, fmt.Errorf("rendezvous: %d bytes: %w", cost, ErrMemory)
		}
	}
	if idx == nil {
		idx = &epochIndex{buckets: make(map[[TokenSize]byte]bucket, e.sizeHint()), end: k.end(e.cfg.Skew)}
		e.epochs[k] = idx
	}
	if h == nil {
		s.held = append(s.held, heldEpoch{k: k, toks: make([][TokenSize]byte, 0, newTok)})
		h = &s.held[len(s.held)-1]
	}
	var mine []Match
	var others []Delivery
	upgraded := 0
	var sh *record
	if len(shared) > 0 {
		sh = &record{data: append([]byte(nil), shared...), acct: s.acct}
		e.recBytes += int64(len(sh.data))
	}
	for _, a := range anns {
		var rec *record
		for _, t := range a.Tokens {
			if !t.Here && hereIn[t.Value] {
				// Also here in this call: the first here occurrence adds
				// or upgrades the entry, with its announcement's record.
				continue
			}
			b := idx.buckets[t.Value]
			mi := b.find(s)
			if mi >= 0 && !up[t.Value] {
				continue // held (from before, or earlier in this call)
			}
			if rec == nil {
				rec = &record{data: append([]byte(nil), a.Record...), shared: sh, acct: s.acct}
				e.recBytes += int64(len(rec.data))
				if sh != nil {
					sh.refs++
				}
			}
			rec.refs++
			if mi >= 0 {
				// A near entry of s announced again as here: it becomes
				// here, takes this announcement's record, and now matches
				// the near entries it could not match before.
				delete(up, t.Value)
				en := b.at(mi)
				e.release(en.record)
				en.here, en.record = true, rec
				for i := range b.size() {
					o := b.at(i)
					if o.sess == s || o.here {
						continue
					}
					e.st.Matches++
					mine = append(mine, Match{EpochSeconds: epochSeconds, Epoch: epoch, Token: t.Value, Record: o.record.data, Shared: o.record.sharedData()})
					others = append(others, Delivery{To: o.sess, Match: Match{EpochSeconds: epochSeconds, Epoch: epoch, Token: t.Value, Record: rec.data, Shared: rec.sharedData()}})
				}
				idx.buckets[t.Value] = b
				upgraded++
				continue
			}
			h.toks = append(h.toks, t.Value)
			here := t.Here
			for i := range b.size() {
				o := b.at(i)
				if o.sess == s || (!here && !o.here) {
					continue
				}
				e.st.Matches++
				mine = append(mine, Match{EpochSeconds: epochSeconds, Epoch: epoch, Token: t.Value, Record: o.record.data, Shared: o.record.sharedData()})
				others = append(others, Delivery{To: o.sess, Match: Match{EpochSeconds: epochSeconds, Epoch: epoch, Token: t.Value, Record: rec.data, Shared: rec.sharedData()}})
			}
			b.add(entry{sess: s, here: here, record: rec})
			idx.buckets[t.Value] = b
		}
	}
	e.entries += newTok
	s.n += newTok
	s.charge(k, newTok)
	e.sessions[s] = struct{}{}
	e.st.Announced += uint64(newTok)
	return newTok + upgraded, mine, others, nil
}

// countTokens is the number of tokens in anns.
func countTokens(anns []Announcement) int {
	n := 0
	for _, a := range anns {
		n += len(a.Tokens)
	}
	return n
}

// sizeHint is the number of buckets a new epoch's map is made for: the
// largest live epoch's (the last epoch, still inside its skew, when the
// next one starts). Epochs of a steady population are about the same
// size, and a map grown from empty to 200,000 tokens rehashes each
// entry about twice over the epoch (issue 14). Live epochs are bounded by
// MaxEntries, so a client cannot make the hint larger than the engine's
// cap. Slots are charged to Accounts only as entries fill them, so after
// a burst the next epoch's map holds unfilled slots for at most one
// epoch (about 60 MB at the default cap), as a map grown by the burst and
// emptied by withdraws does already: Go maps do not shrink.
func (e *Engine) sizeHint() int {
	n := 0
	for _, idx := range e.epochs {
		n = max(n, len(idx.buckets))
	}
	return n
}

// holds reports whether s holds token tv in the epoch of idx, h being
// s's list for that epoch: asked of the token's bucket, and only when s
// holds anything there (a new session, the common case, looks nothing up).
func holds(s *Session, idx *epochIndex, h *heldEpoch, tv [TokenSize]byte) bool {
	if h == nil || len(h.toks) == 0 || idx == nil {
		return false
	}
	b := idx.buckets[tv]
	return b.find(s) >= 0
}

// upgradesLocked returns the tokens of anns with a here occurrence (a
// token both near and here in one call is here; nil when anns hold one
// token), and the set of tokens s already holds as near in idx that anns
// now announce as here (h is s's list for the epoch).
func (e *Engine) upgradesLocked(s *Session, idx *epochIndex, h *heldEpoch, anns []Announcement) (map[[TokenSize]byte]bool, map[[TokenSize]byte]bool) {
	var hereIn map[[TokenSize]byte]bool // nil for one token: nothing to merge
	if n := countTokens(anns); n > 1 {
		hereIn = make(map[[TokenSize]byte]bool, n)
	}
	held := h != nil && len(h.toks) > 0 && idx != nil
	var up map[[TokenSize]byte]bool
	for _, a := range anns {
		for _, t := range a.Tokens {
			if hereIn != nil && t.Here {
				hereIn[t.Value] = true
			}
			if !t.Here || !held {
				continue
			}
			b := idx.buckets[t.Value]
			if i := b.find(s); i >= 0 && !b.at(i).here {
				if up == nil {
					up = make(map[[TokenSize]byte]bool)
				}
				up[t.Value] = true
			}
		}
	}
	return hereIn, up
}

// Withdraw removes every entry of s and returns how many there were. The
// session stays usable.
func (e *Engine) Withdraw(s *Session) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.withdrawLocked(s)
}

// Close withdraws s and refuses its later announcements.
func (e *Engine) Close(s *Session) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	s.closed = true
	return e.withdrawLocked(s)
}

func (e *Engine) withdrawLocked(s *Session) int {
	n := 0
	for _, h := range s.held {
		idx := e.epochs[h.k]
		if idx == nil {
			continue
		}
		s.charge(h.k, -len(h.toks))
		for _, tv := range h.toks {
			b, ok := idx.buckets[tv]
			if !ok {
				continue
			}
			if i := b.find(s); i >= 0 {
				e.release(b.at(i).record)
				b.remove(i)
				n++
			}
			if b.size() == 0 {
				delete(idx.buckets, tv)
			} else {
				idx.buckets[tv] = b
			}
		}
		if len(idx.buckets) == 0 {
			delete(e.epochs, h.k)
		}
	}
	s.held = nil
	e.entries -= n
	s.release(n * EntryBytes)
	s.n = 0
	delete(e.sessions, s)
	return n
}

func (e *Engine) release(r *record) {
	r.refs--
	if r.refs == 0 {
		e.recBytes -= int64(len(r.data))
		if r.acct != nil {
			r.acct.Release(len(r.data) + RecordOverhead)
		}
		if r.shared != nil {
			e.release(r.shared)
		}
	}
}

func (r *record) sharedData() []byte {
	if r.shared == nil {
		return nil
	}
	return r.shared.data
}

// Sweep drops every epoch whose window has passed and returns the number of
// entries dropped. Announce sweeps too, so an idle engine is the only one
// that needs a periodic Sweep.
func (e *Engine) Sweep() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sweepLocked()
}

func (e *Engine) sweepLocked() int {
	now := e.cfg.Now()
	n := 0
	for k, idx := range e.epochs {
		if now.Before(idx.end) {
			continue
		}
		for _, b := range idx.buckets {
			for i := range b.size() {
				en := b.at(i)
				e.release(en.record)
				en.sess.release(EntryBytes)
				en.sess.n--
				en.sess.charge(k, -1)
				en.sess.dropEpoch(k)
				if en.sess.n == 0 {
					delete(e.sessions, en.sess)
				}
				n++
			}
		}
		delete(e.epochs, k)
	}
	e.entries -= n
	e.st.Expired += uint64(n)
	return n
}

// Entries returns the number of entries s holds.
func (e *Engine) Entries(s *Session) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return s.n
}

// Stats returns aggregate figures.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.st
	st.Entries = e.entries
	st.RecordBytes = e.recBytes
	st.Epochs = len(e.epochs)
	st.Sessions = len(e.sessions)
	return st
}
