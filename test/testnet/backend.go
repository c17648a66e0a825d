package testnet

import (
	"errors"
	"sync"
)

// NodeIndex maps a node's friend ID (what its friends' events name it by)
// to its index in the scenario, for backends turning events into Events.
// The zero value is ready; safe for concurrent use.
type NodeIndex struct {
	mu   sync.Mutex // guards byID
	byID map[string]int
}

// Set records that friend ID id is node i.
func (x *NodeIndex) Set(id string, i int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.byID == nil {
		x.byID = map[string]int{}
	}
	x.byID[id] = i
}

// Index returns the node with friend ID id, or -1.
func (x *NodeIndex) Index(id string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	if i, ok := x.byID[id]; ok {
		return i
	}
	return -1
}

// StopAll stops every node, then every relay, and joins their errors:
// the Close of a backend's Network.
func StopAll[N interface{ Stop() error }, R interface{ Stop() error }](nodes []N, relays []R) error {
	var errs []error
	for _, n := range nodes {
		errs = append(errs, n.Stop())
	}
	for _, r := range relays {
		errs = append(errs, r.Stop())
	}
	return errors.Join(errs...)
}
