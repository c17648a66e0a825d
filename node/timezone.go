package node

import "time"

// SetTimeZone sets the zone share-policy windows are read in (a phone
// that travels tells the node its new zone); nil goes back to
// Config.TimeZone, or time.Local without one.
func (n *Node) SetTimeZone(loc *time.Location) {
	n.tz.Store(loc)
}

// zone is the device's local zone for share-policy windows.
func (n *Node) zone() *time.Location {
	if loc := n.tz.Load(); loc != nil {
		return loc
	}
	if n.cfg.TimeZone != nil {
		return n.cfg.TimeZone
	}
	return time.Local
}
