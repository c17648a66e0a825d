package mobile

import "github.com/imigee/imigee/node"

// Event kinds (Event.Kind); node.Event documents each.
const (
	EventFriendLinked   = node.EventFriendLinked
	EventFriendNearby   = node.EventFriendNearby
	EventFriendGone     = node.EventFriendGone
	EventItemOffered    = node.EventItemOffered
	EventItemReceived   = node.EventItemReceived
	EventProgress       = node.EventProgress
	EventDeliveryFailed = node.EventDeliveryFailed
	EventQueued         = node.EventQueued
	EventDelivered      = node.EventDelivered
	EventLike           = node.EventLike
	EventMessage        = node.EventMessage
	// EventContactMatch: a contact holds this user's handle and this user
	// holds theirs; ItemID is the match ID, Text the contact's name and
	// Handle the handle as the local address book has them.
	EventContactMatch = node.EventContactMatch
)

// Reasons in Event.Err of EventDeliveryFailed.
const (
	FailRejected  = node.FailRejected
	FailRetention = node.FailRetention
)

// Paths in Event.Via.
const (
	ViaDirect  = node.ViaDirect
	ViaCircuit = node.ViaCircuit
	ViaMailbox = node.ViaMailbox
)

// Precisions of SetPrecision and of Friend JSON's Precision field.
const (
	PrecisionClose  = "close"
	PrecisionCasual = "casual"
	PrecisionOff    = "off"
)

// Event is one notification; see node.Event for the kinds. It never holds a
// location, cell or distance.
type Event struct {
	Kind     string
	FriendID string
	ItemID   string
	Type     string
	Text     string
	Path     string
	Done     int64
	Total    int64
	Err      string
	Via      string // ViaDirect, ViaCircuit or ViaMailbox
	Handle   string // contact_match: the contact's handle as the local address book has it
	// From and To bound a meeting in unix seconds (friend_was_nearby,
	// share_proposed): times only, never a place.
	From, To int64
}

// EventHandler receives events, implemented in Kotlin or Swift. OnEvent is
// called from one library thread, in order; hand work to the UI thread and
// return quickly. A panic (or an exception) in OnEvent is reported and
// the event dropped; later events still come.
type EventHandler interface {
	OnEvent(e *Event)
}

type handler struct{ h EventHandler }

func (h handler) OnEvent(e *node.Event) {
	defer guardQuiet("OnEvent")
	h.h.OnEvent(&Event{Kind: e.Kind, FriendID: e.FriendID, ItemID: e.ItemID, Type: e.Type,
		Text: e.Text, Path: e.Path, Done: e.Done, Total: e.Total, Err: e.Err, Via: e.Via, Handle: e.Handle,
		From: e.From, To: e.To})
}
