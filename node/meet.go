package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/crypto/geo"
	"github.com/imigee/imigee/node/relayclient"
	proto "github.com/imigee/imigee/protocol"
)

const (
	// DwellTime is how long the device must stay in one cell (by the
	// injected clock) before it announces while the app is closed: 5 min.
	DwellTime = 5 * time.Minute
	// NearbyEpochs is how many epochs "nearby" lasts after the last
	// confirmed match: 2.
	NearbyEpochs = 2
	// MaxQuietZones caps quiet zones: 64.
	MaxQuietZones = 64
	// recordVersion is the first byte of a sealed rendezvous record.
	recordVersion = 1
)

// location is the device's last position. It stays in memory only: it is
// never stored, logged or sent (P3).
type location struct {
	lat, lng, acc float64
	cell          uint64    // level-16 here cell, for dwell detection
	since         time.Time // when the device entered cell
}

// QuietZone is a circle inside which nothing is announced. It stays on the
// device.
type QuietZone struct {
	ID                     string // from AddQuietZone
	Lat, Lng, RadiusMeters float64
}

type quietZone = QuietZone

// proxState is what the last announcement was, to skip repeats and map a
// match back to the friend.
type proxState struct {
	epoch   uint64
	cells   [2]uint64 // here cells at historyLevels (16 and 14)
	byToken map[[crypto.TokenSize]byte]*friend
	relay   peer.ID
}

// SetLocation gives the node the device's position (from the platform).
// It triggers an announcement if the cell changed and the node announces
// (app open, or dwelling). The position never leaves the device.
func (n *Node) SetLocation(lat, lng, accuracy float64) error {
	if math.IsNaN(lat) || math.IsNaN(lng) || lat < -90 || lat > 90 || lng < -180 || lng > 180 || accuracy < 0 {
		return ErrBadArgument
	}
	here, _ := geo.Cells(lat, lng, geo.DefaultLevel)
	now := n.cfg.Now()
	n.mu.Lock()
	if n.loc == nil || n.loc.cell != here {
		n.loc = &location{cell: here, since: now}
	}
	n.loc.lat, n.loc.lng, n.loc.acc = lat, lng, accuracy
	n.mu.Unlock()
	n.countLocation(accuracy)
	if loc := n.announcing(); loc != nil {
		n.recordHistory(n.epochNow(), loc)
	}
	n.wake()
	return nil
}

// ClearLocation forgets the position (permission revoked, or the user
// paused sharing) and withdraws every announcement.
func (n *Node) ClearLocation() {
	n.mu.Lock()
	n.loc = nil
	n.mu.Unlock()
	n.wake()
}

// SetAppOpen tells the node whether the app is in the foreground; while it
// is, the node announces without waiting to dwell.
func (n *Node) SetAppOpen(open bool) {
	n.mu.Lock()
	n.appOpen = open
	n.mu.Unlock()
	n.wake()
}

// distance is the great-circle distance in metres (haversine).
func distance(lat1, lng1, lat2, lng2 float64) float64 {
	φ1, φ2 := lat1*math.Pi/180, lat2*math.Pi/180
	dφ, dλ := φ2-φ1, (lng2-lng1)*math.Pi/180
	a := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * geo.EarthRadiusMeters * math.Asin(math.Sqrt(a))
}

func (n *Node) inPlace(ps []Place) bool {
	n.mu.Lock()
	loc := n.locCopy()
	n.mu.Unlock()
	if loc == nil {
		return false
	}
	for _, p := range ps {
		if distance(loc.lat, loc.lng, p.Lat, p.Lng) <= p.RadiusMeters {
			return true
		}
	}
	return false
}

// locCopy returns a copy of the current location (nil if none); n.mu must
// be held. SetLocation updates n.loc in place, so readers outside the lock
// need their own copy.
func (n *Node) locCopy() *location {
	if n.loc == nil {
		return nil
	}
	c := *n.loc
	return &c
}

// announcing returns the location to announce from, or nil when the node
// must stay silent: no location, inside a quiet zone, or neither app open
// nor dwelling.
func (n *Node) announcing() *location {
	n.mu.Lock()
	loc, open := n.locCopy(), n.appOpen
	n.mu.Unlock()
	if loc == nil {
		return nil
	}
	if !open && n.cfg.Now().Sub(loc.since) < DwellTime {
		return nil
	}
	zs, err := n.quietZones()
	if err != nil {
		return nil // zones unknown: announce nothing rather than maybe inside one
	}
	for _, z := range zs {
		if distance(loc.lat, loc.lng, z.Lat, z.Lng) <= z.RadiusMeters+loc.acc {
			return nil
		}
	}
	c := *loc
	return &c
}

// proxFriends returns the friends to announce to, capped, in a stable order.
func (n *Node) proxFriends() []*friend {
	fs := n.friendList()
	n.mu.Lock()
	fs = slices.DeleteFunc(fs, func(f *friend) bool { return f.saved.Precision == PrecisionOff })
	n.mu.Unlock()
	if len(fs) > n.cfg.ProximityFriendCap {
		fs = fs[:n.cfg.ProximityFriendCap]
	}
	return fs
}

// precisionLevel is the cell level this device announces to f at (0:
// precision off), read under n.mu: SetPrecision changes it meanwhile.
func (n *Node) precisionLevel(f *friend) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return f.saved.Precision.level()
}

// proximityTick announces this epoch's tokens when something changed (new
// epoch, new cell, settings), withdraws when the node must be silent, and
// expires "nearby" states.
func (n *Node) proximityTick() {
	n.expireNearby()
	loc := n.announcing()
	rc := n.firstRelay()
	if rc != nil {
		n.lateTick(rc) // whether or not it announces now
	}
	if loc == nil {
		n.withdraw()
		return
	}
	epoch := n.epochNow()
	// The cells are computed once per tick, by the same rule, for the
	// history, the moved-check and every friend's tokens.
	set := n.cellsAt(loc.lat, loc.lng)
	n.recordCells(epoch, set)
	if rc == nil {
		return
	}
	fs := n.proxFriends()
	here := [2]uint64{set[0].H, set[1].H}
	n.mu.Lock()
	prev := n.prox
	n.mu.Unlock()
	if prev != nil && prev.epoch == epoch && prev.cells == here && prev.relay == rc.ai.ID && !n.proxDirty() {
		return
	}
	h, err := n.host()
	if err != nil {
		return
	}
	st := &proxState{epoch: epoch, cells: here, byToken: map[[crypto.TokenSize]byte]*friend{}, relay: rc.ai.ID}
	// One record for every friend: sealed once under a fresh seed, each
	// friend gets a 16-byte share of the seed (see crypto.RecordShare).
	plain, err := encodeRecord(epoch, h.ID(), recordAddrs(h.Addrs(), rc))
	if err != nil {
		return
	}
	seed, err := crypto.NewRecordSeed(rand.Reader)
	if err != nil {
		return
	}
	shared, err := crypto.SealSharedRecord(rand.Reader, seed, epoch, plain)
	if err != nil {
		return
	}
	var anns []relayclient.Announcement
	es := uint32(n.cfg.EpochSeconds)
	for _, f := range fs {
		lvl := n.precisionLevel(f)
		i := slices.Index(historyLevels, lvl)
		if i < 0 {
			continue
		}
		ht, nts, err := crypto.FriendTokens(f.keys, epoch, es, lvl, set[i].H, set[i].N)
		if err != nil {
			continue
		}
		share := f.keys.RecordShare(epoch, seed)
		a := relayclient.Announcement{Tokens: []relayclient.Token{{Value: ht, Here: true}}, Record: share[:]}
		st.byToken[ht] = f
		for _, t := range nts {
			a.Tokens = append(a.Tokens, relayclient.Token{Value: t})
			st.byToken[t] = f
		}
		anns = append(anns, a)
	}
	n.mu.Lock()
	n.prox = st
	n.proxChanged = false
	n.mu.Unlock()
	// Moved to other cells within the epoch: the relay adds tokens to what
	// the session announced, so the old place's tokens would stay live
	// and a friend arriving there later in the epoch would match a device
	// that has left (one-sided: this device ignores tokens it no longer
	// announces). Withdraw them first.
	moved := prev != nil && prev.epoch == epoch && prev.relay == rc.ai.ID && prev.cells != st.cells
	if len(anns) == 0 {
		if moved {
			n.withdraw()
		}
		return
	}
	n.spawn(func(ctx context.Context) {
		rv, err := n.rendezvous(ctx, rc)
		if err != nil {
			n.log.Debug("rendezvous unavailable", "err", err)
			n.markProxDirty()
			return
		}
		if moved {
			if _, err := rv.Withdraw(ctx); err != nil {
				n.log.Debug("withdraw before re-announcing failed", "err", err)
				n.markProxDirty()
				return
			}
		}
		tag := n.forgetTag(epoch)
		for len(anns) > 0 {
			batch := anns[:min(len(anns), proto.MaxAnnouncements)]
			anns = anns[len(batch):]
			_, ms, err := rv.AnnounceTagged(ctx, es, epoch, shared, tag, batch)
			if err != nil {
				n.log.Debug("announce failed", "err", err)
				n.markProxDirty()
				return
			}
			for _, m := range ms {
				// A match answering this announcement: the friend was
				// there first, so this node counts the discovery delay.
				if n.onMatch(m) {
					n.countDiscovery(loc.since)
				}
			}
		}
		// The relay holds it (and keeps it in its history): no late
		// announcement for this epoch. Once settled, it stays so: the
		// node announces again at every cell change in an epoch, and
		// each write is a commit (an fsync on a phone).
		if n.historySettled(epoch) {
			return
		}
		if err := n.updateHistory([]uint64{epoch}, func(r *historyRec) { r.Live = true }); err != nil {
			n.log.Debug("history not marked live", "err", err)
		}
	})
}

func (n *Node) proxDirty() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proxChanged
}

func (n *Node) markProxDirty() {
	n.mu.Lock()
	n.proxChanged = true
	n.mu.Unlock()
}

// withdraw drops this node's announcements at the relay.
func (n *Node) withdraw() {
	n.mu.Lock()
	had := n.prox != nil
	n.prox = nil
	var rvs []*relayclient.Rendezvous
	for _, rc := range n.rconns {
		if rc.rv != nil {
			rvs = append(rvs, rc.rv)
		}
	}
	n.mu.Unlock()
	if !had {
		return
	}
	n.spawn(func(ctx context.Context) {
		for _, rv := range rvs {
			_, _ = rv.Withdraw(ctx)
		}
	})
}

func (n *Node) firstRelay() *relayConn {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ai := range n.relays {
		if rc := n.rconns[ai.ID]; rc != nil {
			return rc
		}
	}
	return nil
}

// rendezvous returns rc's rendezvous session, opening one if needed.
func (n *Node) rendezvous(ctx context.Context, rc *relayConn) (*relayclient.Rendezvous, error) {
	n.mu.Lock()
	rv := rc.rv
	n.mu.Unlock()
	if rv != nil {
		select {
		case <-rv.Done():
		default:
			return rv, nil
		}
	}
	ann, err := n.annClient(rc)
	if err != nil {
		return nil, err
	}
	rv, err = ann.Rendezvous(n.ctx, func(m relayclient.Match) {
		n.spawn(func(context.Context) { _ = n.onMatch(m) })
	})
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	rc.rv = rv
	n.mu.Unlock()
	return rv, nil
}

// onMatch opens the friend's record, connects and confirms with Hello
// proofs; only then is the friend nearby (the relay's word is not enough).
// It reports whether the friend became nearby just now.
func (n *Node) onMatch(m relayclient.Match) bool {
	n.mu.Lock()
	var f *friend
	if n.prox != nil {
		f = n.prox.byToken[m.Token]
	}
	n.mu.Unlock()
	if f == nil {
		return false
	}
	plain, err := f.keys.OpenSharedRecord(m.Epoch, m.Record, m.Shared)
	var pid peer.ID
	var addrs []ma.Multiaddr
	if err == nil {
		pid, addrs, err = decodeRecord(m.Epoch, plain)
	}
	if err != nil || !n.epochOK(m.Epoch) {
		n.log.Debug("ignoring a match whose record does not open", "err", err)
		return false
	}
	return n.confirmNearby(f, pid, addrs)
}

// confirmNearby dials the friend at pid and, if both Hello proofs verify,
// raises friend_nearby; it reports whether the friend became nearby now.
func (n *Node) confirmNearby(f *friend, pid peer.ID, addrs []ma.Multiaddr) bool {
	h, err := n.host()
	if err != nil || pid == h.ID() {
		return false
	}
	h.Peerstore().AddAddrs(pid, addrs, peerstore.TempAddrTTL)
	n.mu.Lock()
	moved := f.peer != pid
	f.peer = pid
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(n.ctx, DialTimeout)
	defer cancel()
	s, err := n.dialSession(ctx, f)
	if err != nil {
		n.log.Debug("match not confirmed", "err", err)
		return false
	}
	s.sendPrekey()
	s.close()
	raised := n.setNearby(f)
	if moved {
		n.resumeFrom(f) // transfers from f cut short can go on now
	}
	return raised
}

// setNearby marks f nearby and reports whether it was not before
// (friend_nearby raised).
func (n *Node) setNearby(f *friend) bool {
	until := n.cfg.Now().Add(time.Duration(NearbyEpochs*n.cfg.EpochSeconds) * time.Second)
	n.mu.Lock()
	was := n.cfg.Now().Before(f.nearbyUntil)
	f.nearbyUntil = until
	n.mu.Unlock()
	if !was {
		n.emit(&Event{Kind: EventFriendNearby, FriendID: f.id})
	}
	n.noteMeeting(f.id, MeetingLive, []uint64{n.epochNow()})
	return !was
}

func (n *Node) expireNearby() {
	now := n.cfg.Now()
	var gone []string
	n.mu.Lock()
	for _, f := range n.friends {
		if !f.nearbyUntil.IsZero() && !now.Before(f.nearbyUntil) {
			f.nearbyUntil = time.Time{}
			gone = append(gone, f.id)
		}
	}
	n.mu.Unlock()
	slices.Sort(gone)
	for _, id := range gone {
		n.emit(&Event{Kind: EventFriendGone, FriendID: id})
	}
}

// encodeRecord is the plaintext of this device's rendezvous record:
// version(1) ‖ epoch(8) ‖ len(peer)(1) ‖ peer ‖ repeated len(addr)(1) ‖
// addr, as many addresses as fit in crypto.MaxRecordSize. It is sealed once
// per announcement round with crypto.SealSharedRecord, and each friend gets
// a key share (crypto.PairKeys.RecordShare).
func encodeRecord(epoch uint64, pid peer.ID, addrs []ma.Multiaddr) ([]byte, error) {
	p := []byte{recordVersion}
	p = binary.BigEndian.AppendUint64(p, epoch)
	if len(pid) > 255 || len(p)+1+len(pid) > crypto.MaxRecordSize {
		return nil, ErrBadArgument
	}
	p = append(p, byte(len(pid)))
	p = append(p, pid...)
	for _, a := range addrs {
		b := a.Bytes()
		if len(b) > 255 || len(p)+1+len(b) > crypto.MaxRecordSize {
			continue
		}
		p = append(p, byte(len(b)))
		p = append(p, b...)
	}
	return p, nil
}

var errBadRecord = errors.New("node: bad rendezvous record")

// decodeRecord parses an opened record of the friend's for epoch.
// Addresses that do not parse are skipped; a bad peer ID fails.
func decodeRecord(epoch uint64, p []byte) (peer.ID, []ma.Multiaddr, error) {
	if len(p) < 10 || p[0] != recordVersion || binary.BigEndian.Uint64(p[1:9]) != epoch {
		return "", nil, errBadRecord
	}
	l := int(p[9])
	p = p[10:]
	if l > len(p) {
		return "", nil, errBadRecord
	}
	pid, err := peer.IDFromBytes(p[:l])
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", errBadRecord, err)
	}
	p = p[l:]
	var addrs []ma.Multiaddr
	for len(p) > 0 {
		l := int(p[0])
		if l+1 > len(p) {
			return "", nil, errBadRecord
		}
		if a, err := ma.NewMultiaddrBytes(p[1 : 1+l]); err == nil {
			addrs = append(addrs, a)
		}
		p = p[1+l:]
	}
	return pid, addrs, nil
}

// recordAddrs picks what goes in the rendezvous record (at most
// crypto.MaxRecordSize bytes with the peer ID): the circuit address
// through the relay the match comes from, and one direct address (a public
// one if the host has it).
func recordAddrs(own []ma.Multiaddr, rc *relayConn) []ma.Multiaddr {
	out := make([]ma.Multiaddr, 0, 2)
	if rc.circuit != nil {
		out = append(out, rc.circuit)
	}
	var direct ma.Multiaddr
	for _, a := range own {
		if manet.IsPublicAddr(a) {
			direct = a
			break
		}
		if direct == nil {
			direct = a
		}
	}
	if direct != nil {
		out = append(out, direct)
	}
	return out
}
