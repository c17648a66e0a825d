package protocol

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/imigee/imigee/protocol/pb"
)

// Error is a protocol error with a code from the closed list pb.ErrorCode
// and a short detail that names fields, sizes and counts but never carries
// user data (no IDs, tokens, keys or content). It is what Validate and
// ReadMsg return, and what ToPB/FromPB carry across the wire.
//
// Callers branch with errors.Is against the sentinels below: an *Error
// matches the sentinel of its code whatever its detail.
type Error struct {
	Code   pb.ErrorCode
	Detail string
}

// Sentinels, one per error code. They are *Error values with an empty
// Detail; do not modify them.
var (
	// ErrBadRequest: a malformed or invalid message.
	ErrBadRequest = &Error{Code: pb.ErrorCode_BAD_REQUEST}
	// ErrTooLarge: a frame, field or count exceeded its cap.
	ErrTooLarge = &Error{Code: pb.ErrorCode_TOO_LARGE}
	// ErrQuotaExceeded: a mailbox or global quota was hit; nothing stored.
	ErrQuotaExceeded = &Error{Code: pb.ErrorCode_QUOTA_EXCEEDED}
	// ErrRateLimited: a per-connection rate or budget was exceeded.
	ErrRateLimited = &Error{Code: pb.ErrorCode_RATE_LIMITED}
	// ErrUnauthorized: bad signature, unknown or replayed challenge.
	ErrUnauthorized = &Error{Code: pb.ErrorCode_UNAUTHORIZED}
	// ErrNotFound: the named thing does not exist.
	ErrNotFound = &Error{Code: pb.ErrorCode_NOT_FOUND}
	// ErrStale: an epoch or challenge outside its time window.
	ErrStale = &Error{Code: pb.ErrorCode_STALE}
	// ErrUnavailable: shutting down or overloaded; retry later.
	ErrUnavailable = &Error{Code: pb.ErrorCode_UNAVAILABLE}
	// ErrInternal: the peer failed; nothing more is said.
	ErrInternal = &Error{Code: pb.ErrorCode_INTERNAL}
	// ErrRejected: the recipient declined (share offers).
	ErrRejected = &Error{Code: pb.ErrorCode_REJECTED}
	// ErrUnsupported: an unknown request type, version or error code.
	ErrUnsupported = &Error{Code: pb.ErrorCode_UNSUPPORTED}
)

// Error returns "protocol: <code>[: <detail>]".
func (e *Error) Error() string {
	name, ok := pb.ErrorCode_name[int32(e.Code)]
	if !ok {
		name = "unknown code"
	}
	s := "protocol: " + strings.ReplaceAll(strings.ToLower(name), "_", " ")
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is reports whether target is an *Error with the same code and either an
// empty detail (a sentinel) or the same detail.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t == nil {
		return false
	}
	return t.Code == e.Code && (t.Detail == "" || t.Detail == e.Detail)
}

// Code returns the error code of err: OK for nil, the code of the first
// *Error in err's chain, else INTERNAL.
func Code(err error) pb.ErrorCode {
	if err == nil {
		return pb.ErrorCode_OK
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return pb.ErrorCode_INTERNAL
}

// ToPB converts err for the wire. nil gives nil. The first *Error in err's
// chain supplies the code and detail (truncated to MaxErrorDetail bytes at
// a rune boundary); any other error becomes INTERNAL with no detail, so
// wrapped context (which may hold user data) never leaves the process.
// An *Error with code OK or a code outside the list becomes INTERNAL.
func ToPB(err error) *pb.Error {
	if err == nil {
		return nil
	}
	var pe *Error
	if !errors.As(err, &pe) || !KnownCode(pe.Code) || pe.Code == pb.ErrorCode_OK {
		return &pb.Error{Code: pb.ErrorCode_INTERNAL}
	}
	return &pb.Error{Code: pe.Code, Detail: truncateDetail(pe.Detail)}
}

// FromPB converts a wire error to an error. nil or code OK gives nil. A
// code outside the closed list (a newer or broken peer) gives an *Error
// with code UNSUPPORTED whose detail names the unknown code, so callers
// treat it as a failure they cannot interpret. The detail is truncated to
// MaxErrorDetail bytes.
func FromPB(e *pb.Error) error {
	if e == nil || e.Code == pb.ErrorCode_OK {
		return nil
	}
	detail := truncateDetail(e.Detail)
	if !KnownCode(e.Code) {
		return &Error{Code: pb.ErrorCode_UNSUPPORTED, Detail: truncateDetail("unknown error code " + strconv.Itoa(int(e.Code)) + sep(detail) + detail)}
	}
	return &Error{Code: e.Code, Detail: detail}
}

// KnownCode reports whether c is in the closed list of error codes
// (including OK).
func KnownCode(c pb.ErrorCode) bool {
	_, ok := pb.ErrorCode_name[int32(c)]
	return ok
}

func sep(s string) string {
	if s == "" {
		return ""
	}
	return ": "
}

// truncateDetail cuts s to MaxErrorDetail bytes without splitting a rune
// and replaces invalid UTF-8, which proto3 strings may not carry.
func truncateDetail(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	if len(s) <= MaxErrorDetail {
		return s
	}
	cut := MaxErrorDetail
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// errf builds an *Error without fmt so the hot validation path stays cheap
// on success; it runs only on failure.
func errf(code pb.ErrorCode, parts ...string) *Error {
	return &Error{Code: code, Detail: truncateDetail(strings.Join(parts, ""))}
}
