package protocol

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/imigee/imigee/protocol/pb"
)

var sentinels = map[pb.ErrorCode]error{
	pb.ErrorCode_BAD_REQUEST:    ErrBadRequest,
	pb.ErrorCode_TOO_LARGE:      ErrTooLarge,
	pb.ErrorCode_QUOTA_EXCEEDED: ErrQuotaExceeded,
	pb.ErrorCode_RATE_LIMITED:   ErrRateLimited,
	pb.ErrorCode_UNAUTHORIZED:   ErrUnauthorized,
	pb.ErrorCode_NOT_FOUND:      ErrNotFound,
	pb.ErrorCode_STALE:          ErrStale,
	pb.ErrorCode_UNAVAILABLE:    ErrUnavailable,
	pb.ErrorCode_INTERNAL:       ErrInternal,
	pb.ErrorCode_REJECTED:       ErrRejected,
	pb.ErrorCode_UNSUPPORTED:    ErrUnsupported,
}

func TestSentinelPerCode(t *testing.T) {
	if len(sentinels) != len(pb.ErrorCode_name)-1 {
		t.Fatalf("%d sentinels for %d codes (besides OK)", len(sentinels), len(pb.ErrorCode_name)-1)
	}
	for code, s := range sentinels {
		e := &Error{Code: code, Detail: "some detail"}
		wrapped := fmt.Errorf("relay: put: %w", e)
		if !errors.Is(wrapped, s) {
			t.Errorf("%v does not match its sentinel", code)
		}
		for other, o := range sentinels {
			if other != code && errors.Is(wrapped, o) {
				t.Errorf("%v matches the sentinel of %v", code, other)
			}
		}
		back := FromPB(ToPB(wrapped))
		if !errors.Is(back, s) || back.(*Error).Detail != "some detail" {
			t.Errorf("%v: round trip gave %v", code, back)
		}
		if Code(wrapped) != code {
			t.Errorf("Code(%v) = %v", code, Code(wrapped))
		}
	}
}

func TestToPB(t *testing.T) {
	if ToPB(nil) != nil {
		t.Fatal("ToPB(nil) != nil")
	}
	// Wrapped context may hold user data: it must not reach the wire.
	secret := "mailbox a12222a11e3292b3"
	e := ToPB(fmt.Errorf("store %s: %w", secret, &Error{Code: pb.ErrorCode_QUOTA_EXCEEDED, Detail: "mailbox quota"}))
	if e.Code != pb.ErrorCode_QUOTA_EXCEEDED || e.Detail != "mailbox quota" {
		t.Fatalf("got %v", e)
	}
	if e := ToPB(fmt.Errorf("open %s: %w", secret, io.ErrUnexpectedEOF)); e.Code != pb.ErrorCode_INTERNAL || e.Detail != "" {
		t.Fatalf("plain error: %v", e)
	}
	if e := ToPB(&Error{Code: pb.ErrorCode_OK}); e.Code != pb.ErrorCode_INTERNAL {
		t.Fatalf("OK in an error: %v", e)
	}
	if e := ToPB(&Error{Code: 77}); e.Code != pb.ErrorCode_INTERNAL {
		t.Fatalf("unknown code: %v", e)
	}
	long := strings.Repeat("é", MaxErrorDetail) // 2 bytes each
	e = ToPB(&Error{Code: pb.ErrorCode_INTERNAL, Detail: long})
	if len(e.Detail) > MaxErrorDetail || !utf8.ValidString(e.Detail) {
		t.Fatalf("detail %d bytes, valid %v", len(e.Detail), utf8.ValidString(e.Detail))
	}
	e = ToPB(&Error{Code: pb.ErrorCode_INTERNAL, Detail: "bad \xff byte"})
	if !utf8.ValidString(e.Detail) {
		t.Fatal("invalid UTF-8 sent")
	}
	if err := ValidateError(e); err != nil {
		t.Fatal(err)
	}
}

func TestFromPB(t *testing.T) {
	if FromPB(nil) != nil || FromPB(&pb.Error{}) != nil {
		t.Fatal("nil or OK should be no error")
	}
	err := FromPB(&pb.Error{Code: 99, Detail: "new thing"})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "unknown error code 99") {
		t.Fatalf("unknown code: %v", err)
	}
	err = FromPB(&pb.Error{Code: pb.ErrorCode_STALE, Detail: strings.Repeat("x", 1000)})
	if !errors.Is(err, ErrStale) || len(err.(*Error).Detail) != MaxErrorDetail {
		t.Fatalf("long detail: %v", err)
	}
}

func TestErrorString(t *testing.T) {
	if s := (&Error{Code: pb.ErrorCode_QUOTA_EXCEEDED, Detail: "mailbox"}).Error(); s != "protocol: quota exceeded: mailbox" {
		t.Fatal(s)
	}
	if s := ErrTooLarge.Error(); s != "protocol: too large" {
		t.Fatal(s)
	}
	// A detailed target matches only the same detail.
	if errors.Is(&Error{Code: pb.ErrorCode_STALE, Detail: "a"}, &Error{Code: pb.ErrorCode_STALE, Detail: "b"}) {
		t.Fatal("different details matched")
	}
}
