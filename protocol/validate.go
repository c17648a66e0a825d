package protocol

import (
	"strconv"

	"github.com/imigee/imigee/protocol/pb"
)

// Validation checks shape only: every bytes field's length, every repeated
// field's count, oneof presence, ids and enum values. It never checks
// signatures, challenges, epochs against a clock or quotas; those are the
// relay's and the node's business. A failure is an *Error: BAD_REQUEST for a
// wrong or missing value, TOO_LARGE for a field or count above its cap,
// UNSUPPORTED for a message whose body is absent (an unknown oneof case from
// a newer peer decodes as absent). Details name fields, lengths and counts,
// never field contents.

const (
	badRequest  = pb.ErrorCode_BAD_REQUEST
	tooLarge    = pb.ErrorCode_TOO_LARGE
	unsupported = pb.ErrorCode_UNSUPPORTED
)

// exact checks len(b) == n.
func exact(field string, b []byte, n int) error {
	if len(b) != n {
		return errf(badRequest, field, ": length ", strconv.Itoa(len(b)), ", want ", strconv.Itoa(n))
	}
	return nil
}

// optExact checks len(b) == 0 or len(b) == n.
func optExact(field string, b []byte, n int) error {
	if len(b) == 0 {
		return nil
	}
	return exact(field, b, n)
}

// sized checks 1 ≤ len(b) ≤ max.
func sized(field string, b []byte, max int) error {
	if len(b) == 0 {
		return errf(badRequest, field, ": empty")
	}
	if len(b) > max {
		return errf(tooLarge, field, ": length ", strconv.Itoa(len(b)), " exceeds ", strconv.Itoa(max))
	}
	return nil
}

// optional checks an optional field of at most max bytes.
func optional(field string, b []byte, max int) error {
	if len(b) > max {
		return errf(tooLarge, field, ": length ", strconv.Itoa(len(b)), " exceeds ", strconv.Itoa(max))
	}
	return nil
}

// count checks min ≤ n ≤ max.
func count(field string, n, min, max int) error {
	if n < min {
		return errf(badRequest, field, ": ", strconv.Itoa(n), " entries, want at least ", strconv.Itoa(min))
	}
	if n > max {
		return errf(tooLarge, field, ": ", strconv.Itoa(n), " entries exceed ", strconv.Itoa(max))
	}
	return nil
}

func nonZeroID(field string, id uint64) error {
	if id == 0 {
		return errf(badRequest, field, ": id must be non-zero")
	}
	return nil
}

// at prefixes the detail of a validation error with a path element.
func at(err error, prefix string) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*Error); ok {
		return errf(e.Code, prefix, e.Detail)
	}
	return err
}

func idx(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]." }

// ValidateError checks a wire error: a code other than OK (codes outside
// the list are accepted here and become ErrUnsupported in FromPB) and a
// detail of at most MaxErrorDetail bytes.
func ValidateError(e *pb.Error) error {
	if e == nil {
		return errf(badRequest, "error: absent")
	}
	if e.Code == pb.ErrorCode_OK {
		return errf(badRequest, "error.code: OK in an error")
	}
	if len(e.Detail) > MaxErrorDetail {
		return errf(tooLarge, "error.detail: length ", strconv.Itoa(len(e.Detail)), " exceeds ", strconv.Itoa(MaxErrorDetail))
	}
	return nil
}

// validateEpoch checks a non-zero epoch number and an epoch length within
// [MinEpochSeconds, MaxEpochSeconds].
func validateEpoch(field string, epoch uint64, seconds uint32) error {
	if epoch == 0 {
		return errf(badRequest, field, ".epoch: zero")
	}
	if seconds < MinEpochSeconds || seconds > MaxEpochSeconds {
		return errf(badRequest, field, ".epoch_seconds: ", strconv.FormatUint(uint64(seconds), 10), " outside [",
			strconv.Itoa(MinEpochSeconds), ", ", strconv.Itoa(MaxEpochSeconds), "]")
	}
	return nil
}
