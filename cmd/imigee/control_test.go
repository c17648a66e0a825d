package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestReadRequestLarge: requests up to MaxRequestSize bytes (the newline
// counted) arrive intact, whatever their length relative to the reader's
// 4 KiB buffer; one byte more is refused with a clear error. A
// 16,000-character message failed with "bad request: invalid character"
// before readLine copied each fragment.
func TestReadRequestLarge(t *testing.T) {
	frame := func(n int) string { // a request line of exactly n bytes
		pre, post := `{"cmd":"message","text":"`, `"}`+"\n"
		return pre + varied(n-len(pre)-len(post)) + post
	}
	for _, n := range []int{4095, 4096, 4097, 8193, 16000 + 30, MaxRequestSize - 1, MaxRequestSize} {
		in := frame(n)
		r, err := readRequest(strings.NewReader(in))
		if err != nil || r.Cmd != "message" || len(in) != n || len(r.Text) != n-28 {
			t.Fatalf("%d-byte request: %v", n, err)
		}
	}
	// A 16,000-character message with multi-byte characters (JSON-escaped
	// as the CLI sends it).
	text := strings.Repeat("é<", 8000)[:15999] + "!"
	b, _ := json.Marshal(request{Cmd: "message", Friend: "abcd", Text: text})
	r, err := readRequest(bytes.NewReader(append(b, '\n')))
	if err != nil || r.Text != text {
		t.Fatalf("16,000-character message: %v", err)
	}
	// The worst case of the longest message: 16 KiB of control
	// characters, six bytes each once JSON-escaped.
	ctl := strings.Repeat("\x01", 16<<10)
	b, _ = json.Marshal(request{Cmd: "message", Friend: "abcd", Text: ctl})
	if r, err := readRequest(bytes.NewReader(append(b, '\n'))); err != nil || r.Text != ctl {
		t.Fatalf("16 KiB of escaped characters (%d bytes): %v", len(b), err)
	}
	_, err = readRequest(strings.NewReader(frame(MaxRequestSize + 1)))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("request larger than %d bytes", MaxRequestSize)) {
		t.Fatalf("one byte over: %v", err)
	}
}

// varied returns n bytes of text that differ from one 4 KiB buffer to the
// next, so a reused buffer shows.
func varied(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%d,", i)
	}
	return b.String()[:n]
}

func TestReadRequest(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // cmd, or "" for an error
	}{
		{`{"cmd":"id"}` + "\n", "id"},
		{`{"cmd":"message","friend":"abcd","text":"hi"}`, "message"}, // EOF ends the line
		{`{"cmd":""}` + "\n", ""},
		{`{"cmd":"id","evil":true}` + "\n", ""},
		{"not json\n", ""},
		{"", ""},
		{`{"cmd":"message","text":"` + strings.Repeat("a", MaxRequestSize) + `"}` + "\n", ""},
	} {
		r, err := readRequest(strings.NewReader(tc.in))
		if tc.want == "" {
			if err == nil {
				t.Errorf("%.40q: no error", tc.in)
			}
			continue
		}
		if err != nil || r.Cmd != tc.want {
			t.Errorf("%.40q: %+v, %v", tc.in, r, err)
		}
	}
}

// FuzzReadRequest: any bytes give a request or an error, never a panic or
// a request larger than the limit.
func FuzzReadRequest(f *testing.F) {
	for _, r := range []request{{Cmd: "id"}, {Cmd: "share", Path: "/a.jpg", To: []string{"abcd"}}, {Cmd: "locate", Lat: 1.5, Lng: -3}} {
		b, _ := json.Marshal(r)
		f.Add(append(b, '\n'))
	}
	f.Add([]byte("{\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := readRequest(bytes.NewReader(b))
		if err == nil && (r.Cmd == "" || len(b) > MaxRequestSize+1 && bytes.IndexByte(b, '\n') > MaxRequestSize) {
			t.Fatalf("accepted %q", b)
		}
	})
}

func TestResolvePrefix(t *testing.T) {
	ids := []string{"3fa2c1d0aa", "3fa2ffff00", "77aa0000"}
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"3fa2c1d0aa", "3fa2c1d0aa", nil},
		{"3fa2c", "3fa2c1d0aa", nil},
		{"3fa2", "", errAmbiguus},
		{"77a", "", errTooShort},
		{"9999", "", errNoMatch},
	} {
		got, err := resolve(tc.in, ids)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("resolve(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseFlagsInterleaved(t *testing.T) {
	fs := flag.NewFlagSet("share", flag.ContinueOnError)
	var to stringList
	fs.Var(&to, "to", "")
	pos, _, ok := parseFlags(fs, []string{"photo.jpg", "-to", "ab12", "-to", "cd34,ef56", "--", "-odd"}, 1, 2)
	if !ok || len(pos) != 2 || pos[0] != "photo.jpg" || pos[1] != "-odd" || len(to) != 3 {
		t.Fatalf("pos %v to %v ok %v", pos, to, ok)
	}
}

// TestHelp: every command has help that explains it, and usage errors
// exit 2.
func TestHelp(t *testing.T) {
	for _, c := range commands() {
		var out, errb bytes.Buffer
		if code := realMain([]string{"help", c.name}, nil, &out, &errb); code != exitOK {
			t.Errorf("help %s: exit %d", c.name, code)
		}
		if !strings.Contains(out.String(), "Usage: imigee "+c.name) || !strings.Contains(out.String(), "-data-dir") {
			t.Errorf("help %s:\n%s", c.name, out.String())
		}
	}
	var out, errb bytes.Buffer
	if code := realMain(nil, nil, &out, &errb); code != exitUsage {
		t.Errorf("no args: exit %d", code)
	}
	if code := realMain([]string{"bogus"}, nil, &out, &errb); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	if code := realMain([]string{"link", "-data-dir", t.TempDir()}, nil, &out, &errb); code != exitUsage {
		t.Errorf("link without invite: exit %d", code)
	}
	if code := realMain([]string{"locate", "-data-dir", t.TempDir(), "north", "east"}, nil, &out, &errb); code != exitUsage {
		t.Errorf("locate with words: exit %d", code)
	}
}

// TestServerRoundTrip runs the control server on a real unix socket with a
// stub handler: requests, errors, the events stream, and a close that waits
// for everything.
func TestServerRoundTrip(t *testing.T) {
	dir, err := os.MkdirTemp("", "imigee-ctl-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, keyFile), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock, _ := socketPath(dir)
	ln, err := listenControl(sock)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(sock); st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v", st.Mode().Perm())
	}
	if _, err := listenControl(sock); err == nil {
		t.Fatal("a second listener on a live socket")
	}
	h := newHub()
	srv := newServer(ln, h, func(ctx context.Context, r *request) (any, error) {
		if r.Cmd == "id" {
			return idResult{ID: "me"}, nil
		}
		if r.Cmd == "message" {
			return idResult{ID: r.Text}, nil
		}
		return nil, errors.New("nope")
	})
	defer srv.close()
	var id idResult
	if err := call(dir, &request{Cmd: "id"}, &id); err != nil || id.ID != "me" {
		t.Fatalf("id: %+v %v", id, err)
	}
	long := strings.Repeat("m", 16000)
	if err := call(dir, &request{Cmd: "message", Friend: "ab", Text: long}, &id); err != nil || id.ID != long {
		t.Fatalf("16,000-character message: %v", err)
	}
	if err := call(dir, &request{Cmd: "message", Text: strings.Repeat("m", MaxRequestSize)}, nil); err == nil || !strings.Contains(err.Error(), "request larger than") {
		t.Fatalf("oversized request: %v", err)
	}
	if err := call(dir, &request{Cmd: "other"}, nil); err == nil || err.Error() != "nope" {
		t.Fatalf("error not passed on: %v", err)
	}
	ch, closeEvents, err := subscribeEvents(dir)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		n := len(h.subs)
		h.mu.Unlock()
		if n == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.publish(eventJSON{Event: "friend_nearby", Friend: "ab"})
	select {
	case ev := <-ch:
		if ev.Event != "friend_nearby" || ev.Friend != "ab" {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	closeEvents()
	srv.close()
	if err := call(dir, &request{Cmd: "id"}, nil); err == nil {
		t.Fatal("answered after close")
	}
}
