package contacts

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// MaxRetention is the longest a pending entry may live: 30 days (P5). An
// operator may set less, never more.
const MaxRetention = 30 * 24 * time.Hour

// Config configures a Service. Zero fields take the defaults given.
type Config struct {
	// Key is this relay's OPRF key for its stage of the chain; nil = the
	// relay evaluates nothing and only keeps entries.
	Key *crypto.ContactKey
	// StoreEntries keeps pending entries (a directory relay). Default off
	// in the zero value; relay.DefaultConfig turns it on.
	StoreEntries bool
	// Difficulty is the proof-of-work difficulty per evaluation batch, in
	// leading zero bits. Default 20 (≈ 0.2 s on a phone core).
	Difficulty int
	// MaxBatch caps the elements of one evaluation here. Default 2048
	// (protocol.MaxContactBatch, also the most allowed).
	MaxBatch int
	// EvalsPerConnDay caps evaluations per connection per day. Default 8192.
	EvalsPerConnDay int
	// EvalsPerPrefixDay caps evaluations per remote address prefix (IPv4
	// /24, IPv6 /48) per day. Default 16384.
	EvalsPerPrefixDay int
	// PostsPerPrefixDay caps new entries per remote address prefix per
	// day, so one party cannot take the entry store from everyone. Default
	// 4096 (a phone with 1,000 contacts and two handles posts 2,000 once).
	PostsPerPrefixDay int
	// MaxTracked caps the connections and prefixes the day counters track;
	// past it new ones are refused (UNAVAILABLE) until the day turns.
	// Default 100,000.
	MaxTracked int
	// Retention is how long an entry lives after it was first posted.
	// Default and maximum 30 days.
	Retention time.Duration
	// MaxEntries caps the entries held. Default 1,000,000 (≈ 2.5 GB of disk: 2,545 bytes per entry measured).
	MaxEntries int
	// MaxPostersPerEntry caps the posters under one entry ID. Default 4 (a
	// pair needs 2).
	MaxPostersPerEntry int
	// ChallengeTTL bounds a challenge's life. Default 60 s.
	ChallengeTTL time.Duration
	// IdleTimeout closes a stream with no request for that long; a started
	// frame must complete within ReadTimeout. Defaults 60 s and 30 s.
	IdleTimeout, ReadTimeout time.Duration
	// WriteTimeout bounds writing one response. Default 10 s.
	WriteTimeout time.Duration
	// Now is the clock. nil = time.Now.
	Now func() time.Time
	// NoSync skips fsync (tests and simulations only).
	NoSync bool
}

func (c *Config) defaults() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Difficulty, 20)
	def(&c.MaxBatch, protocol.MaxContactBatch)
	def(&c.EvalsPerConnDay, 8192)
	def(&c.EvalsPerPrefixDay, 16384)
	def(&c.PostsPerPrefixDay, 4096)
	def(&c.MaxTracked, 100_000)
	def(&c.MaxEntries, 1_000_000)
	def(&c.MaxPostersPerEntry, 4)
	if c.Retention == 0 {
		c.Retention = MaxRetention
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	dur(&c.ChallengeTTL, time.Minute)
	dur(&c.IdleTimeout, time.Minute)
	dur(&c.ReadTimeout, 30*time.Second)
	dur(&c.WriteTimeout, 10*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	switch {
	case c.Retention < 0 || c.Retention > MaxRetention:
		return fmt.Errorf("contacts: retention %v outside (0, 30 days]", c.Retention)
	case c.Difficulty < 0 || c.Difficulty > protocol.MaxContactPoWBits:
		return fmt.Errorf("contacts: difficulty %d outside 0..%d", c.Difficulty, protocol.MaxContactPoWBits)
	case c.MaxBatch < 1 || c.MaxBatch > protocol.MaxContactBatch:
		return fmt.Errorf("contacts: max batch %d outside 1..%d", c.MaxBatch, protocol.MaxContactBatch)
	case c.MaxPostersPerEntry < 2:
		return fmt.Errorf("contacts: max posters per entry %d below 2", c.MaxPostersPerEntry)
	}
	return nil
}

// Stream is what Serve needs from a stream (a libp2p network.Stream).
type Stream interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// Remote names the two keys evaluations are counted under: the connection
// and the remote address prefix. Neither is stored or logged.
type Remote struct {
	Conn, Prefix string
}

// Stats are aggregate counters for metrics (P10: nothing per user).
type Stats struct {
	Evaluations, Batches, Posts, Matches, Withdrawn, Expired uint64
	RateLimited, BadProof                                    uint64
	Entries                                                  int
}

// Service is one relay's contact matching service.
type Service struct {
	cfg   Config
	store *entryStore // nil when StoreEntries is off

	mu      sync.Mutex // guards day, the day counters and stats
	day     int64
	perConn map[string]int // evaluations
	perPfx  map[string]int // evaluations
	postPfx map[string]int // entries posted
	stats   Stats
}

// New opens the entry store at path (when cfg.StoreEntries) and returns the
// service.
func New(cfg Config, path string) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg}
	s.resetDay(0)
	if cfg.StoreEntries {
		st, err := openStore(path, cfg.NoSync)
		if err != nil {
			return nil, err
		}
		s.store = st
	}
	return s, nil
}

// Close closes the entry store.
func (s *Service) Close() error {
	if s.store == nil {
		return nil
	}
	return s.store.close()
}

// PublicKey is this relay's OPRF public key (nil if it holds none).
func (s *Service) PublicKey() []byte {
	if s.cfg.Key == nil {
		return nil
	}
	return s.cfg.Key.PublicKey()
}

// Stats returns a snapshot of the counters.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	st := s.stats
	s.mu.Unlock()
	if s.store != nil {
		st.Entries = s.store.count()
	}
	return st
}

// Sweep deletes expired entries (at most 10,000 a call) and returns how
// many it deleted.
func (s *Service) Sweep() (int, error) {
	if s.store == nil {
		return 0, nil
	}
	n, err := s.store.sweep(s.cfg.Now(), 10_000)
	s.mu.Lock()
	s.stats.Expired += uint64(n)
	s.mu.Unlock()
	return n, err
}

type stream struct {
	s          *Service
	st         Stream
	remote     Remote
	lim        Limits
	challenges map[[protocol.ChallengeSize]byte]time.Time // outstanding, single use
}

func errResp(code pb.ErrorCode, detail string) *pb.ContactsResponse {
	return &pb.ContactsResponse{Error: &pb.Error{Code: code, Detail: detail}}
}

// maxChallenges bounds the outstanding challenges of one stream.
const maxChallenges = 4

func (ss *stream) handle(req *pb.ContactsRequest) *pb.ContactsResponse {
	switch b := req.Body.(type) {
	case *pb.ContactsRequest_Challenge:
		return ss.challenge()
	case *pb.ContactsRequest_Evaluate:
		return ss.evaluate(b.Evaluate)
	case *pb.ContactsRequest_Post:
		return ss.post(b.Post)
	case *pb.ContactsRequest_Withdraw:
		return ss.withdraw(b.Withdraw)
	}
	return errResp(pb.ErrorCode_UNSUPPORTED, "unknown request")
}

func (ss *stream) challenge() *pb.ContactsResponse {
	now := ss.s.cfg.Now()
	for k, exp := range ss.challenges {
		if !now.Before(exp) {
			delete(ss.challenges, k)
		}
	}
	if len(ss.challenges) >= maxChallenges {
		return errResp(pb.ErrorCode_RATE_LIMITED, "too many outstanding challenges")
	}
	var n [protocol.ChallengeSize]byte
	if _, err := rand.Read(n[:]); err != nil {
		return errResp(pb.ErrorCode_INTERNAL, "no randomness")
	}
	exp := now.Add(ss.s.cfg.ChallengeTTL)
	ss.challenges[n] = exp
	return &pb.ContactsResponse{Body: &pb.ContactsResponse_Challenge{Challenge: &pb.ContactsChallenge{
		Nonce: n[:], ExpiresUnix: exp.Unix(), Difficulty: uint32(ss.s.cfg.Difficulty),
		PublicKey: ss.s.PublicKey(), MaxBatch: uint32(ss.s.cfg.MaxBatch),
	}}}
}

// evaluate checks, in order of cost: a key, the batch size, the challenge
// (consumed whatever follows), the proof of work (one hash), the day
// budgets (charged only for a solved batch, so a liar sharing an address
// prefix cannot spend its neighbours' evaluations), then evaluates.
func (ss *stream) evaluate(e *pb.ContactEvaluate) *pb.ContactsResponse {
	s := ss.s
	if s.cfg.Key == nil {
		return errResp(pb.ErrorCode_UNSUPPORTED, "this relay holds no contact key")
	}
	if len(e.Blinded) > s.cfg.MaxBatch {
		return errResp(pb.ErrorCode_TOO_LARGE, "batch over this relay's max_batch")
	}
	if r := ss.consume(e.Challenge); r != nil {
		return r
	}
	if !crypto.VerifyContactPoW(e.Challenge, e.Blinded, s.cfg.Difficulty, e.PowNonce) {
		s.count(func(st *Stats) { st.BadProof++ })
		return errResp(pb.ErrorCode_UNAUTHORIZED, "proof of work does not solve the challenge")
	}
	if code, detail := s.charge(ss.remote, len(e.Blinded)); code != pb.ErrorCode_OK {
		return errResp(code, detail)
	}
	ev, proof, err := s.cfg.Key.Evaluate(e.Blinded)
	if err != nil {
		return errResp(pb.ErrorCode_BAD_REQUEST, "a blinded element is not a valid group element")
	}
	s.count(func(st *Stats) { st.Evaluations += uint64(len(ev)); st.Batches++ })
	return &pb.ContactsResponse{Body: &pb.ContactsResponse_Evaluate{Evaluate: &pb.ContactEvaluateResult{Evaluated: ev, Proof: proof}}}
}

func (s *Service) resetDay(day int64) {
	s.day, s.perConn, s.perPfx, s.postPfx = day, map[string]int{}, map[string]int{}, map[string]int{}
}

// charge counts n evaluations against the connection's and the prefix's
// day budgets; nothing is charged when either would go over.
func (s *Service) charge(r Remote, n int) (pb.ErrorCode, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code, d := s.trackLocked(r); code != pb.ErrorCode_OK {
		return code, d
	}
	if s.perConn[r.Conn]+n > s.cfg.EvalsPerConnDay || s.perPfx[r.Prefix]+n > s.cfg.EvalsPerPrefixDay {
		s.stats.RateLimited++
		return pb.ErrorCode_RATE_LIMITED, "contact evaluations per day exceeded"
	}
	s.perConn[r.Conn] += n
	s.perPfx[r.Prefix] += n
	return pb.ErrorCode_OK, ""
}

// chargePosts counts n new entries against the prefix's day budget.
func (s *Service) chargePosts(r Remote, n int) (pb.ErrorCode, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code, d := s.trackLocked(r); code != pb.ErrorCode_OK {
		return code, d
	}
	if s.postPfx[r.Prefix]+n > s.cfg.PostsPerPrefixDay {
		s.stats.RateLimited++
		return pb.ErrorCode_RATE_LIMITED, "contact entries per day exceeded"
	}
	s.postPfx[r.Prefix] += n
	return pb.ErrorCode_OK, ""
}

// checkTracked refuses a new connection or prefix when the day counters
// are full, before any work is done for it.
func (s *Service) checkTracked(r Remote) (pb.ErrorCode, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trackLocked(r)
}

// trackLocked turns the day and refuses a new connection or prefix once
// MaxTracked keys are counted today.
func (s *Service) trackLocked(r Remote) (pb.ErrorCode, string) {
	if day := s.cfg.Now().Unix() / 86400; day != s.day {
		s.resetDay(day)
	}
	_, knownC := s.perConn[r.Conn]
	_, knownP := s.perPfx[r.Prefix]
	if (!knownC || !knownP) && len(s.perConn)+len(s.perPfx)+len(s.postPfx) >= s.cfg.MaxTracked {
		return pb.ErrorCode_UNAVAILABLE, "contact service is busy today"
	}
	return pb.ErrorCode_OK, ""
}

func (s *Service) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// consume takes a challenge of this stream (used once, whatever follows)
// and answers nil when it was outstanding and fresh.
func (ss *stream) consume(nonce []byte) *pb.ContactsResponse {
	ch := [protocol.ChallengeSize]byte(nonce)
	exp, ok := ss.challenges[ch]
	delete(ss.challenges, ch)
	if !ok {
		return errResp(pb.ErrorCode_UNAUTHORIZED, "unknown or used challenge")
	}
	if !ss.s.cfg.Now().Before(exp) {
		return errResp(pb.ErrorCode_STALE, "challenge expired")
	}
	return nil
}

// post checks the challenge, charges the prefix's entry budget, checks the
// proof of work over the entry IDs, then stores.
func (ss *stream) post(p *pb.ContactPost) *pb.ContactsResponse {
	s := ss.s
	if s.store == nil {
		return errResp(pb.ErrorCode_UNSUPPORTED, "this relay keeps no contact entries")
	}
	if r := ss.consume(p.Challenge); r != nil {
		return r
	}
	if code, detail := s.checkTracked(ss.remote); code != pb.ErrorCode_OK {
		return errResp(code, detail)
	}
	ids := make([][]byte, len(p.Entries))
	for i, e := range p.Entries {
		ids[i] = e.EntryId
	}
	if !crypto.VerifyContactPoW(p.Challenge, ids, s.cfg.Difficulty, p.PowNonce) {
		s.count(func(st *Stats) { st.BadProof++ })
		return errResp(pb.ErrorCode_UNAUTHORIZED, "proof of work does not solve the challenge")
	}
	entries := make([][3][]byte, len(p.Entries))
	for i, e := range p.Entries {
		entries[i] = [3][]byte{e.EntryId, e.SealedOffer, e.WithdrawHash}
	}
	var refused pb.ErrorCode
	var refusedDetail string
	allow := func(added int) bool {
		refused, refusedDetail = s.chargePosts(ss.remote, added)
		return refused == pb.ErrorCode_OK
	}
	res, err := s.store.post(entries, s.cfg.Now(), s.cfg.Retention, s.cfg.MaxPostersPerEntry, s.cfg.MaxEntries, protocol.MaxContactMatchesPerResult, allow)
	if errors.Is(err, errBudget) {
		return errResp(refused, refusedDetail)
	}
	if errors.Is(err, errFull) {
		return errResp(pb.ErrorCode_QUOTA_EXCEEDED, "contact entries full")
	}
	if err != nil {
		return errResp(pb.ErrorCode_INTERNAL, "store")
	}
	out := &pb.ContactPostResult{ExpiresUnix: res.expires}
	for _, m := range res.matches {
		out.Matches = append(out.Matches, &pb.ContactMatch{EntryId: m[0], SealedOffer: m[1]})
	}
	s.count(func(st *Stats) { st.Posts += uint64(len(entries)); st.Matches += uint64(len(out.Matches)) })
	return &pb.ContactsResponse{Body: &pb.ContactsResponse_Post{Post: out}}
}

func (ss *stream) withdraw(w *pb.ContactWithdraw) *pb.ContactsResponse {
	s := ss.s
	if s.store == nil {
		return errResp(pb.ErrorCode_UNSUPPORTED, "this relay keeps no contact entries")
	}
	keys := make([][]byte, len(w.Entries))
	for i, e := range w.Entries {
		h := crypto.ContactWithdrawHash([32]byte(e.WithdrawSecret))
		keys[i] = append(append([]byte{}, e.EntryId...), h[:]...)
	}
	n, err := s.store.withdraw(keys)
	if err != nil {
		return errResp(pb.ErrorCode_INTERNAL, "store")
	}
	s.count(func(st *Stats) { st.Withdrawn += uint64(n) })
	return &pb.ContactsResponse{Body: &pb.ContactsResponse_Withdraw{Withdraw: &pb.ContactWithdrawResult{Removed: uint32(n)}}}
}
