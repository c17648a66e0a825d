package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The contact-matching scene: bob and carol have each other's phone
// numbers in their address books. Each claims its number and imports a
// vCard; neither number leaves either phone, and the relay sees only
// blinded values and one opaque entry they both posted. Both accept the
// proposal and are friends.
var demoNumbers = map[string]string{"bob": "+49 151 12345678", "carol": "+44 7700 900123"}

func (d *demo) contactLink(ctx context.Context) error {
	t0 := time.Now()
	for name, other := range map[string]string{"bob": "carol", "carol": "bob"} {
		if _, err := d.cli(ctx, name, "handle", "set", demoNumbers[name]); err != nil {
			return err
		}
		vcf := fmt.Sprintf("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:%s (phone book)\r\nTEL;TYPE=CELL:%s\r\nEND:VCARD\r\n", other, demoNumbers[other])
		if err := os.WriteFile(filepath.Join(d.dir, name+".vcf"), []byte(vcf), 0o600); err != nil {
			return err
		}
	}
	if _, err := d.cli(ctx, "bob", "contacts", "import", filepath.Join(d.dir, "bob.vcf")); err != nil {
		return err
	}
	if _, err := d.cli(ctx, "carol", "contacts", "import", filepath.Join(d.dir, "carol.vcf")); err != nil {
		return err
	}
	cm, err := d.nodes["carol"].p.waitEvent(ctx, "contact_match", nil)
	if err != nil {
		return err
	}
	d.say("bob and carol imported address books holding each other's number: carol is told %q is on Imigee (matched in %s; the relay saw only blinded values)", cm.Text, secs(time.Since(t0)))
	if _, err := d.cli(ctx, "bob", "contacts", "sync"); err != nil {
		return err
	}
	bm, err := d.nodes["bob"].p.waitEvent(ctx, "contact_match", nil)
	if err != nil {
		return err
	}
	if _, err := d.cli(ctx, "carol", "accept-match", cm.Item); err != nil {
		return err
	}
	out, err := d.cli(ctx, "bob", "accept-match", bm.Item)
	if err != nil {
		return err
	}
	var st struct{ State string }
	if err := json.Unmarshal(out, &st); err != nil || st.State != "linked" {
		return fmt.Errorf("bob's accept-match: %s %v", out, err)
	}
	if _, err := d.cli(ctx, "carol", "contacts", "sync"); err != nil {
		return err
	}
	if _, err := d.nodes["carol"].p.waitEvent(ctx, "friend_linked", func(e event) bool { return e.Friend == d.nodes["bob"].id }); err != nil {
		return err
	}
	d.say("both accepted: bob and carol are friends from their contacts (%s), known to each other only by random IDs", secs(time.Since(t0)))
	return nil
}
