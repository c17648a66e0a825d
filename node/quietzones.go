package node

// Quiet zones: places where the node announces nothing (home, work). This
// file owns their storage and the in-memory copy announcing reads.

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// AddQuietZone adds a place where nothing is announced (home, work).
func (n *Node) AddQuietZone(lat, lng, radiusMeters float64) (string, error) {
	if math.IsNaN(lat) || math.IsNaN(lng) || lat < -90 || lat > 90 || lng < -180 || lng > 180 || !(radiusMeters > 0) || radiusMeters > 100e3 {
		return "", ErrBadArgument
	}
	id, _ := newItemID()
	id = id[:8]
	err := n.changeQuietZones(func(zs []quietZone) ([]quietZone, error) {
		if len(zs) >= MaxQuietZones {
			return nil, ErrTooLarge
		}
		return append(slices.Clip(zs), quietZone{ID: id, Lat: lat, Lng: lng, RadiusMeters: radiusMeters}), nil
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// RemoveQuietZone removes a quiet zone; an unknown ID is ignored.
func (n *Node) RemoveQuietZone(id string) {
	_ = n.changeQuietZones(func(zs []quietZone) ([]quietZone, error) {
		return slices.DeleteFunc(slices.Clone(zs), func(z quietZone) bool { return z.ID == id }), nil
	})
}

// QuietZones lists the quiet zones in the order they were added.
func (n *Node) QuietZones() []QuietZone {
	zs, _ := n.quietZones()
	return slices.Clone(zs)
}

// quietZoneCache holds the stored quiet zones once read: announcing reads
// them at every position update and proximity tick, and reading them from
// the store each time (a read transaction and a JSON decode) was about
// 2.5 % of a simulated phone network's CPU. Readers take the cached list
// without a lock, so an announcement never waits for a change's store
// commit; changes are made one at a time under wmu (before, two adds
// could overwrite each other's).
type quietZoneCache struct {
	wmu sync.Mutex                  // serialises changes and the first read
	zs  atomic.Pointer[[]quietZone] // nil until read; replaced, never changed in place
}

// quietZones returns the zones (shared: the caller must not change them),
// reading them from the store the first time.
func (n *Node) quietZones() ([]quietZone, error) {
	if p := n.qz.zs.Load(); p != nil {
		return *p, nil
	}
	n.qz.wmu.Lock()
	defer n.qz.wmu.Unlock()
	return n.quietZonesLocked()
}

// quietZonesLocked is quietZones with n.qz.wmu held. A failed read is not
// cached (the next call reads again).
func (n *Node) quietZonesLocked() ([]quietZone, error) {
	if p := n.qz.zs.Load(); p != nil {
		return *p, nil
	}
	var zs []quietZone
	if err := n.getJSON("settings", "quiet-zones", &zs); err != nil {
		return nil, err
	}
	n.qz.zs.Store(&zs)
	return zs, nil
}

// changeQuietZones stores change(current zones) and then caches it. The
// current zones must have been read: a store that cannot be read is
// never overwritten with a list built from nothing.
func (n *Node) changeQuietZones(change func([]quietZone) ([]quietZone, error)) error {
	n.qz.wmu.Lock()
	zs, err := n.quietZonesLocked()
	if err == nil {
		zs, err = change(zs)
	}
	if err == nil {
		err = n.putJSON("settings", "quiet-zones", zs)
	}
	if err == nil {
		n.qz.zs.Store(&zs)
	}
	n.qz.wmu.Unlock()
	if err != nil {
		return err
	}
	n.markProxDirty()
	n.wake()
	return nil
}
