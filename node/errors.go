package node

import (
	"errors"

	"github.com/imigee/imigee/node/localstore"
)

// Sentinel errors callers branch on.
var (
	// ErrClosed: the node is closed (or forgotten).
	ErrClosed = errors.New("node: closed")
	// ErrNotStarted: the call needs Start first.
	ErrNotStarted = errors.New("node: not started")
	// ErrBadArgument: an argument is empty, malformed or out of range.
	ErrBadArgument = errors.New("node: bad argument")
	// ErrUnknownFriend: no friend with that ID.
	ErrUnknownFriend = errors.New("node: unknown friend")
	// ErrUnknownItem: no item with that ID.
	ErrUnknownItem = errors.New("node: unknown item")
	// ErrBadInvite: the invite text does not parse or verify, is used up or
	// expired.
	ErrBadInvite = errors.New("node: bad invite")
	// ErrUnreachable: the peer could not be reached by any path.
	ErrUnreachable = errors.New("node: peer unreachable")
	// ErrNoRecipients: the share policy picked nobody (ask mode needs
	// explicit friends).
	ErrNoRecipients = errors.New("node: no recipients")
	// ErrPeer: a peer sent something invalid; the session was dropped.
	ErrPeer = errors.New("node: bad peer input")
	// ErrTooLarge: an item exceeds MaxItemSize or a message MaxMessageLen.
	ErrTooLarge = errors.New("node: too large")
	// ErrForgetRelay: Forget could not reach a relay or the relay refused
	// the request. The local wipe happened anyway; what the node parked at
	// that relay expires within the retention window.
	ErrForgetRelay = errors.New("node: forget incomplete at a relay")
	// ErrLocked: the data directory's store is held by another process
	// (wraps localstore.ErrLocked).
	ErrLocked = localstore.ErrLocked
)
