package contacts

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-vcard"
)

// MaxVCards caps the cards one import reads: 20,000.
const MaxVCards = 20_000

// Contact is one address-book entry as the app (or a vCard) gives it: the
// name the user knows the person by (shown in contact_match events, never
// sent anywhere) and the person's handles, normalised.
type Contact struct {
	Name    string
	Handles []string
}

// ReadVCards reads every card of a vCard file (3.0 or 4.0): TEL numbers,
// EMAIL addresses, and X-SOCIALPROFILE/IMPP handles of known schemes.
// Handles that do not parse are skipped and counted in skipped; a card
// with no usable handle is dropped.
func ReadVCards(r io.Reader, region string) (cs []Contact, skipped int, err error) {
	dec := vcard.NewDecoder(r)
	for {
		card, err := dec.Decode()
		if errors.Is(err, io.EOF) {
			return cs, skipped, nil
		}
		if err != nil {
			return cs, skipped, fmt.Errorf("contacts: vcard %d: %w", len(cs)+1, err)
		}
		if len(cs) >= MaxVCards {
			return cs, skipped, fmt.Errorf("contacts: more than %d cards", MaxVCards)
		}
		c := Contact{Name: card.PreferredValue(vcard.FieldFormattedName)}
		add := func(raw string) {
			h, err := Normalize(raw, region)
			if err != nil {
				skipped++
				return
			}
			for _, x := range c.Handles {
				if x == h {
					return
				}
			}
			c.Handles = append(c.Handles, h)
		}
		for _, f := range card[vcard.FieldTelephone] {
			add("tel:" + strings.TrimPrefix(f.Value, "tel:"))
		}
		for _, f := range card[vcard.FieldEmail] {
			add("email:" + f.Value)
		}
		for _, key := range []string{"X-SOCIALPROFILE", vcard.FieldIMPP} {
			for _, f := range card[key] {
				scheme := strings.ToLower(f.Params.Get(vcard.ParamType))
				if scheme == "twitter" {
					scheme = "x"
				}
				v := f.Value
				if s, rest, ok := strings.Cut(v, ":"); ok && schemes[strings.ToLower(s)] {
					scheme, v = strings.ToLower(s), rest
				}
				if scheme == "" || !schemes[scheme] || scheme == "tel" {
					skipped++
					continue
				}
				add(scheme + ":" + v)
			}
		}
		if len(c.Handles) > 0 {
			cs = append(cs, c)
		}
	}
}
