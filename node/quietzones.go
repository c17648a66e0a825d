package node

// Quiet zones: places where the node announces nothing (home, work). This
// file owns their storage and the in-memory copy announcing reads.

import (
	"math"
	"slices"
	"sync"
)

// AddQuietZone adds a place where nothing is announced (home, work).
func (n *Node) AddQuietZone(lat, lng, radiusMeters float64) (string, error) {
	if math.IsNaN(lat) || math.IsNaN(lng) || lat < -90 || lat > 90 || lng < -180 || lng > 180 || !(radiusMeters > 0) || radiusMeters > 100e3 {
		return "", ErrBadArgument
	}
	n.qz.mu.Lock()
	zs := n.quietZonesLocked()
	if len(zs) >= MaxQuietZones {
		n.qz.mu.Unlock()
		return "", ErrTooLarge
	}
	id, _ := newItemID()
	id = id[:8]
	zs = append(slices.Clip(zs), quietZone{ID: id, Lat: lat, Lng: lng, RadiusMeters: radiusMeters})
	if err := n.putJSON("settings", "quiet-zones", zs); err != nil {
		n.qz.mu.Unlock()
		return "", err
	}
	n.qz.zs = zs
	n.qz.mu.Unlock()
	n.markProxDirty()
	n.wake()
	return id, nil
}

// RemoveQuietZone removes a quiet zone; an unknown ID is ignored.
func (n *Node) RemoveQuietZone(id string) {
	n.qz.mu.Lock()
	var out []quietZone
	for _, z := range n.quietZonesLocked() {
		if z.ID != id {
			out = append(out, z)
		}
	}
	if n.putJSON("settings", "quiet-zones", out) == nil {
		n.qz.zs = out
	}
	n.qz.mu.Unlock()
	n.markProxDirty()
	n.wake()
}

// QuietZones lists the quiet zones in the order they were added.
func (n *Node) QuietZones() []QuietZone { return n.quietZones() }

func (n *Node) quietZones() []quietZone {
	n.qz.mu.Lock()
	defer n.qz.mu.Unlock()
	return slices.Clone(n.quietZonesLocked())
}

// quietZoneCache holds the stored quiet zones once read: announcing reads
// them at every position update and proximity tick, and reading them from
// the store each time (a read transaction and a JSON decode) was about
// 2.5 % of a simulated phone network's CPU. AddQuietZone and
// RemoveQuietZone write the store and then the cache under mu, so two of
// them no longer race to overwrite each other's change.
type quietZoneCache struct {
	mu     sync.Mutex
	loaded bool
	zs     []quietZone // callers get copies; replaced, never changed in place
}

// quietZonesLocked returns the cached zones (not a copy), reading them
// from the store the first time; n.qz.mu held.
func (n *Node) quietZonesLocked() []quietZone {
	if !n.qz.loaded {
		var zs []quietZone
		if err := n.getJSON("settings", "quiet-zones", &zs); err != nil {
			return nil // not cached: the next call reads again
		}
		n.qz.zs, n.qz.loaded = zs, true
	}
	return n.qz.zs
}
