package mobile

import (
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
)

type crashes struct {
	mu sync.Mutex
	r  []string
}

func (c *crashes) OnCrash(report string) { c.mu.Lock(); c.r = append(c.r, report); c.mu.Unlock() }
func (c *crashes) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.r...)
}

type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) Log(level int, msg string) {
	l.mu.Lock()
	l.l = append(l.l, msg)
	l.mu.Unlock()
}

func newKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

func TestNilConfig(t *testing.T) {
	n, err := NewNode(nil, nil)
	if n != nil || ErrorCode(err) != CodeBadArgument {
		t.Fatalf("NewNode(nil, nil) = %v, %v; want BAD_ARGUMENT", n, err)
	}
	if !strings.HasPrefix(err.Error(), "BAD_ARGUMENT: ") {
		t.Fatalf("message %q lacks its code name", err)
	}
	// A nil node (a Java null passed where a Node was expected) too.
	var m *Node
	if _, err := m.Invite(); ErrorCode(err) != CodeBadArgument {
		t.Fatalf("nil node: %v", err)
	}
	if m.FriendsJSON() != "[]" || m.ID() != "" {
		t.Fatal("nil node quiet methods")
	}
	// Missing required fields are a bad argument too.
	if _, err := NewNode(&Config{}, nil); ErrorCode(err) != CodeBadArgument {
		t.Fatalf("empty config: %v", err)
	}
}

func TestPanicBecomesError(t *testing.T) {
	c := &crashes{}
	n, err := NewNode(&Config{DataDir: t.TempDir(), StoreKey: newKey(), Crash: c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	defer SetCrashReporter(nil)
	const secret = "secret-photo-path-and-friend-name"
	testPanic = func(method string) {
		if method == "Invite" || method == "FriendsJSON" {
			panic(errors.New(secret)) // a panic value may hold user data
		}
		if method == "Accept" {
			var p *Node
			_ = p.n // nil dereference: a runtime error
		}
	}
	defer func() { testPanic = nil }()

	if _, err := n.Invite(); ErrorCode(err) != CodeInternal {
		t.Fatalf("Invite after a panic: %v, want INTERNAL", err)
	}
	if got := n.FriendsJSON(); got != "[]" {
		t.Fatalf("FriendsJSON after a panic: %q", got)
	}
	if err := n.Accept("x"); ErrorCode(err) != CodeInternal {
		t.Fatalf("Accept after a panic: %v", err)
	}
	r := c.all()
	if len(r) != 3 {
		t.Fatalf("%d crash reports, want 3", len(r))
	}
	for _, rep := range r {
		if strings.Contains(rep, secret) || strings.Contains(rep, ".go:") || strings.Contains(rep, "0x") {
			t.Fatalf("report not scrubbed: %s", rep)
		}
	}
	if !strings.Contains(r[0], "Node.Invite: *errors.errorString") || !strings.Contains(r[0], "mobile.(*Node).Invite") {
		t.Fatalf("report lacks the method or frames: %s", r[0])
	}
	if !strings.Contains(r[2], "nil pointer dereference") {
		t.Fatalf("runtime error text missing: %s", r[2])
	}
	// The node still works after the recovered panics.
	testPanic = nil
	if _, err := n.Invite(); ErrorCode(err) != CodeNotStarted {
		t.Fatalf("Invite before Start: %v", err)
	}
}

func TestErrorCodes(t *testing.T) {
	n, err := NewNode(&Config{DataDir: t.TempDir(), StoreKey: newKey()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	err = n.Accept("00112233445566778899aabbccddeeff")
	if ErrorCode(err) != CodeUnknownItem {
		t.Fatalf("Accept unknown: %v", err)
	}
	// As a Java exception carries it back: only the message survives.
	if ErrorCode(errors.New(err.Error())) != CodeUnknownItem {
		t.Fatal("code lost through the message")
	}
	if err := n.SetPrecision("nobody", "far"); ErrorCode(err) != CodeBadArgument {
		t.Fatalf("SetPrecision: %v", err)
	}
	if _, err := n.SafetyNumber("nobody"); ErrorCode(err) != CodeUnknownFriend {
		t.Fatalf("SafetyNumber: %v", err)
	}
	if ErrorCode(nil) != CodeOK || ErrorCodeName(CodeInternal) != "INTERNAL" {
		t.Fatal("codes")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Invite(); ErrorCode(err) != CodeClosed {
		t.Fatalf("Invite after Close: %v", err)
	}
}

func TestLoggerBridge(t *testing.T) {
	l := &lines{}
	c := &crashes{}
	n, err := NewNode(&Config{DataDir: t.TempDir(), StoreKey: newKey(), Logger: l, LogLevel: LogDebug, Crash: c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer SetCrashReporter(nil)
	testPanic = func(string) { panic("boom") }
	_ = n.SetLocation(1, 2, 3)
	testPanic = nil
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	n.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	found := false
	for _, s := range l.l {
		if strings.Contains(s, "panic in Node.SetLocation") {
			found = true
		}
	}
	if !found {
		t.Fatalf("crash report not logged; %d lines", len(l.l))
	}
}
