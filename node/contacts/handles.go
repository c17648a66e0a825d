package contacts

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/imigee/imigee/crypto"
)

// ErrBadHandle means a handle does not parse: an unknown scheme, a phone
// number that is not a possible number, an empty or over-long name.
var ErrBadHandle = errors.New("contacts: bad handle")

// Schemes a handle may use. A bare value that looks like a phone number is
// taken as tel:.
var schemes = map[string]bool{"tel": true, "x": true, "mastodon": true, "email": true, "instagram": true, "telegram": true}

// Normalize returns the canonical form of a handle: "tel:+E164" for phone
// numbers (parsed with region as the default country, e.g. "FR"),
// "scheme:value" lower-cased for the others ("x:@name",
// "mastodon:@name@host", "email:a@b"). Two spellings of one handle give
// the same string, so both sides of a pair derive the same OPRF input.
func Normalize(handle, region string) (string, error) {
	h := strings.TrimSpace(handle)
	scheme, value, ok := strings.Cut(h, ":")
	if !ok || !schemes[strings.ToLower(scheme)] {
		scheme, value = "tel", h // a bare number
	}
	scheme = strings.ToLower(scheme)
	value = strings.TrimSpace(value)
	if value == "" {
		return "", fmt.Errorf("%w: empty %s handle", ErrBadHandle, scheme)
	}
	var out string
	switch scheme {
	case "tel":
		num, err := phonenumbers.Parse(value, strings.ToUpper(region))
		if err != nil || !phonenumbers.IsPossibleNumber(num) {
			return "", fmt.Errorf("%w: not a phone number", ErrBadHandle)
		}
		out = "tel:" + phonenumbers.Format(num, phonenumbers.E164)
	case "email":
		if !strings.Contains(value, "@") {
			return "", fmt.Errorf("%w: email without @", ErrBadHandle)
		}
		out = "email:" + strings.ToLower(value)
	default:
		v := strings.ToLower(value)
		if !strings.HasPrefix(v, "@") {
			v = "@" + v
		}
		if strings.ContainsAny(v, " \t\r\n") {
			return "", fmt.Errorf("%w: space in a %s handle", ErrBadHandle, scheme)
		}
		out = scheme + ":" + v
	}
	if len(out) > crypto.MaxHandleLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadHandle, crypto.MaxHandleLen)
	}
	return out, nil
}
