package mobile

import (
	"context"
	"errors"
	"strings"

	"github.com/imigee/imigee/node"
	"github.com/imigee/imigee/node/contacts"
)

// Error codes. Every error a facade method returns carries one; read it
// with ErrorCode. The message starts with the code's name and a colon
// ("BAD_ARGUMENT: node: bad argument"), so the code survives the trip
// through a Java exception or an NSError, where only the message is kept.
const (
	// CodeOK: no error (ErrorCode(nil)).
	CodeOK = 0
	// CodeInternal: a bug inside the library (a recovered panic). The call
	// did nothing more; a scrubbed report went to Config.Crash.
	CodeInternal = 1
	// CodeBadArgument: an argument is nil, empty, malformed or out of range.
	CodeBadArgument = 2
	// CodeClosed: the node is closed (or forgotten).
	CodeClosed = 3
	// CodeNotStarted: the call needs Start first (or the node is stopped).
	CodeNotStarted = 4
	// CodeUnknownFriend: no friend with that ID.
	CodeUnknownFriend = 5
	// CodeUnknownItem: no item with that ID.
	CodeUnknownItem = 6
	// CodeBadInvite: the invite does not parse or verify, is used up or expired.
	CodeBadInvite = 7
	// CodeUnreachable: the peer could not be reached by any path.
	CodeUnreachable = 8
	// CodeNoRecipients: the share policy picked nobody.
	CodeNoRecipients = 9
	// CodePeer: a peer sent something invalid.
	CodePeer = 10
	// CodeTooLarge: an item or message exceeds its limit.
	CodeTooLarge = 11
	// CodeForgetRelay: Forget wiped the device but a relay did not confirm.
	CodeForgetRelay = 12
	// CodeLocked: the store is held by another process.
	CodeLocked = 13
	// CodeTimeout: the call's time-out passed.
	CodeTimeout = 14
	// CodeCanceled: the call was canceled.
	CodeCanceled = 15
	// CodeOther: any other failure (disk, network); the message says more.
	CodeOther = 16
	// CodeNoHandles: SyncContacts before SetHandles.
	CodeNoHandles = 17
	// CodeBadHandle: a phone number or handle that does not parse.
	CodeBadHandle = 18
	// CodeUnknownMatch: AcceptMatch/RejectMatch with an unknown match ID.
	CodeUnknownMatch = 19
	// CodeContactRelays: no relay to match contacts, or one answering under
	// another key than the network publishes.
	CodeContactRelays = 20
	// CodeAnalyticsOff: SendAnalytics while analytics are off (nothing sent).
	CodeAnalyticsOff = 21
	// CodeUnknownProposal: AcceptProposal/DismissProposal with an ID that
	// is not an open proposal.
	CodeUnknownProposal = 22
)

var codeNames = map[int]string{
	CodeInternal: "INTERNAL", CodeBadArgument: "BAD_ARGUMENT", CodeClosed: "CLOSED",
	CodeNotStarted: "NOT_STARTED", CodeUnknownFriend: "UNKNOWN_FRIEND", CodeUnknownItem: "UNKNOWN_ITEM",
	CodeBadInvite: "BAD_INVITE", CodeUnreachable: "UNREACHABLE", CodeNoRecipients: "NO_RECIPIENTS",
	CodePeer: "PEER", CodeTooLarge: "TOO_LARGE", CodeForgetRelay: "FORGET_RELAY", CodeLocked: "LOCKED",
	CodeTimeout: "TIMEOUT", CodeCanceled: "CANCELED", CodeOther: "OTHER",
	CodeNoHandles: "NO_HANDLES", CodeBadHandle: "BAD_HANDLE", CodeUnknownMatch: "UNKNOWN_MATCH",
	CodeContactRelays: "CONTACT_RELAYS", CodeAnalyticsOff: "ANALYTICS_OFF", CodeUnknownProposal: "UNKNOWN_PROPOSAL",
}

// sentinels maps node's sentinel errors to codes, checked in order.
var sentinels = []struct {
	err  error
	code int
}{
	{node.ErrNoHandles, CodeNoHandles},
	{contacts.ErrBadHandle, CodeBadHandle},
	{node.ErrNoMatch, CodeUnknownMatch},
	{node.ErrContactRelays, CodeContactRelays},
	{contacts.ErrWrongKey, CodeContactRelays},
	{node.ErrAnalyticsOff, CodeAnalyticsOff},
	{node.ErrUnknownProposal, CodeUnknownProposal},
	{node.ErrBadArgument, CodeBadArgument},
	{node.ErrClosed, CodeClosed},
	{node.ErrNotStarted, CodeNotStarted},
	{node.ErrUnknownFriend, CodeUnknownFriend},
	{node.ErrUnknownItem, CodeUnknownItem},
	{node.ErrBadInvite, CodeBadInvite},
	{node.ErrUnreachable, CodeUnreachable},
	{node.ErrNoRecipients, CodeNoRecipients},
	{node.ErrPeer, CodePeer},
	{node.ErrTooLarge, CodeTooLarge},
	{node.ErrForgetRelay, CodeForgetRelay},
	{node.ErrLocked, CodeLocked},
	{context.DeadlineExceeded, CodeTimeout},
	{context.Canceled, CodeCanceled},
}

// codedError is what the facade returns.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return codeNames[e.code] + ": " + e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// coded wraps err with its code; nil stays nil and a coded error stays as it is.
func coded(err error) error {
	if err == nil {
		return nil
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return err
	}
	code := CodeOther
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			code = s.code
			break
		}
	}
	return &codedError{code: code, err: err}
}

func errCode(code int, msg string) error {
	return &codedError{code: code, err: errors.New(msg)}
}

// ErrorCode returns the Code* constant of an error a facade method
// returned: CodeOK for nil. It also reads the code from the message, so
// it works on an error that crossed the language boundary and came back
// (a Java exception or NSError passed in again). Unknown errors give
// CodeOther.
func ErrorCode(err error) (code int) {
	code = CodeOther // also after a recovered panic (an app-side error that misbehaves)
	defer guardQuiet("ErrorCode")
	if err == nil {
		return CodeOK
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, ':'); i > 0 {
		for c, name := range codeNames {
			if msg[:i] == name {
				return c
			}
		}
	}
	return ErrorCode(coded(err))
}

// ErrorCodeName returns the name of a Code* constant ("BAD_ARGUMENT"), or
// "OK" for CodeOK and "" for an unknown code.
func ErrorCodeName(code int) string {
	if code == CodeOK {
		return "OK"
	}
	return codeNames[code]
}
