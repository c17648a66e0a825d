package contacts

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	ok := []struct{ in, region, want string }{
		{"+33 6 12 34 56 78", "", "tel:+33612345678"},
		{"06 12 34 56 78", "FR", "tel:+33612345678"},
		{"tel:06.12.34.56.78", "fr", "tel:+33612345678"},
		{"TEL:+49 151 12345678", "FR", "tel:+4915112345678"},
		{"x:@Name", "", "x:@name"},
		{"x:Name", "", "x:@name"},
		{"mastodon:@Name@Host.Social", "", "mastodon:@name@host.social"},
		{"email:Ann@Example.ORG", "", "email:ann@example.org"},
	}
	for _, c := range ok {
		got, err := Normalize(c.in, c.region)
		if err != nil || got != c.want {
			t.Errorf("Normalize(%q, %q) = %q, %v; want %q", c.in, c.region, got, err, c.want)
		}
	}
	bad := []struct{ in, region string }{
		{"", "FR"}, {"tel:", "FR"}, {"hello", "FR"}, {"06 12", "FR"}, {"0612345678", ""},
		{"email:nobody", ""}, {"x:@a b", ""}, {"x:" + strings.Repeat("a", 300), ""},
	}
	for _, c := range bad {
		if got, err := Normalize(c.in, c.region); !errors.Is(err, ErrBadHandle) {
			t.Errorf("Normalize(%q, %q) = %q, %v; want ErrBadHandle", c.in, c.region, got, err)
		}
	}
}

const sampleVCF = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob Martin\r\nTEL;TYPE=CELL:+49 151 12345678\r\nEMAIL:Bob@Example.org\r\nX-SOCIALPROFILE;TYPE=twitter:bobm\r\nEND:VCARD\r\n" +
	"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Carol\r\nTEL;VALUE=uri:tel:06 12 34 56 78\r\nTEL:12\r\nEND:VCARD\r\n" +
	"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Nobody\r\nNOTE:no handles\r\nEND:VCARD\r\n"

func TestReadVCards(t *testing.T) {
	cs, skipped, err := ReadVCards(strings.NewReader(sampleVCF), "FR")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || skipped != 1 {
		t.Fatalf("%d contacts, %d skipped: %+v", len(cs), skipped, cs)
	}
	want := []string{"tel:+4915112345678", "email:bob@example.org", "x:@bobm"}
	if strings.Join(cs[0].Handles, " ") != strings.Join(want, " ") || cs[0].Name != "Bob Martin" {
		t.Fatalf("bob: %+v", cs[0])
	}
	if len(cs[1].Handles) != 1 || cs[1].Handles[0] != "tel:+33612345678" {
		t.Fatalf("carol: %+v", cs[1])
	}
}

func FuzzNormalize(f *testing.F) {
	f.Add("+33 6 12 34 56 78", "FR")
	f.Add("x:@Name", "")
	f.Add("mastodon:@a@b", "")
	f.Fuzz(func(t *testing.T, in, region string) {
		out, err := Normalize(in, region)
		if err != nil {
			if !errors.Is(err, ErrBadHandle) {
				t.Fatalf("error without ErrBadHandle: %v", err)
			}
			return
		}
		again, err := Normalize(out, region)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, out, again, err)
		}
	})
}

func FuzzReadVCards(f *testing.F) {
	f.Add([]byte(sampleVCF))
	f.Add([]byte("BEGIN:VCARD\r\nEND:VCARD\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, _, _ := ReadVCards(strings.NewReader(string(data)), "FR")
		for _, c := range cs {
			if len(c.Handles) == 0 {
				t.Fatal("contact without handles")
			}
		}
	})
}
