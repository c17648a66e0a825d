package mobile

import (
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/imigee/imigee/node"
)

// CrashReporter receives a scrubbed report when the library recovers from
// a panic (a bug): the panic's kind and the function names on the stack,
// never arguments, file paths, values, content or keys. The call that
// panicked returns an error with CodeInternal; the node goes on. Forward
// the report to the app's crash log. OnCrash may be called from any
// thread.
type CrashReporter interface {
	OnCrash(report string)
}

// maxReportFrames bounds the frames in a crash report: 32.
const maxReportFrames = 32

// crashHooks holds the process-wide reporters: the one of every live Node
// (a panic inside NewNode has no node yet, so Config.Crash is registered
// first).
var crashHooks struct {
	mu  sync.Mutex // guards r, log and nodes
	r   CrashReporter
	log interface{ Error(msg string, args ...any) }
	// nodes are the live nodes, whose analytics count each crash by its
	// signature bucket (node.CountCrash; a no-op with analytics off).
	nodes map[*node.Node]struct{}
}

// SetCrashReporter registers the process-wide crash reporter (also set by
// NewNode from Config.Crash). Call it early to cover NewNode itself; nil
// removes it.
func SetCrashReporter(r CrashReporter) {
	defer guardQuiet("SetCrashReporter")
	crashHooks.mu.Lock()
	crashHooks.r = r
	crashHooks.mu.Unlock()
}

// testPanic, if set (tests only), runs inside each facade call so a test
// can inject a panic there.
var testPanic func(method string)

func inject(method string) {
	if f := testPanic; f != nil {
		f(method)
	}
}

// guard recovers a panic in the facade method `method`, reports it and
// turns it into a CodeInternal error in *err (when the method returns one);
// otherwise it gives *err its code. Use as `defer guard("Name", &err)`.
func guard(method string, err *error) {
	if r := recover(); r != nil {
		report := scrubbedReport(method, r)
		reportCrash(report)
		countCrash(topFunction())
		if err != nil {
			*err = errCode(CodeInternal, "internal error in "+method)
		}
		return
	}
	if err != nil {
		*err = coded(*err)
	}
}

// guardQuiet is guard for methods without an error result.
func guardQuiet(method string) {
	if r := recover(); r != nil {
		reportCrash(scrubbedReport(method, r))
		countCrash(topFunction())
	}
}

func reportCrash(report string) {
	crashHooks.mu.Lock()
	r := crashHooks.r
	crashHooks.mu.Unlock()
	if r != nil {
		func() {
			defer func() { _ = recover() }() // a failing reporter must not crash us
			r.OnCrash(report)
		}()
	}
	logCrash(report)
}

// scrubbedReport names the panic's kind and the stack's function names.
// A runtime error's text is fixed by the runtime (nil dereference, index
// out of range with its numbers) and kept; any other panic value is
// reduced to its Go type, since it may hold user data.
func scrubbedReport(method string, r any) string {
	var b strings.Builder
	kind := fmt.Sprintf("%T", r)
	if re, ok := r.(runtime.Error); ok {
		kind = re.Error()
	}
	fmt.Fprintf(&b, "imigee: panic in Node.%s: %s\n", method, kind)
	pcs := make([]uintptr, maxReportFrames)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if f.Function != "" {
			b.WriteString("  ")
			b.WriteString(f.Function)
			b.WriteByte('\n')
		}
		if !more {
			break
		}
	}
	return b.String()
}

// do is the body shared by the facade methods that return only an error:
// guard, the nil-node check and the test panic hook around f.
func (m *Node) do(method string, f func(n *node.Node) error) (err error) {
	defer guard(method, &err)
	n, err := m.node(method)
	if err != nil {
		return err
	}
	return f(n)
}

// call is do for methods that also return a value (a function, since Go
// methods cannot have type parameters). The exported methods keep their
// gomobile-bindable signatures; only their bodies call this.
func call[T any](m *Node, method string, f func(n *node.Node) (T, error)) (v T, err error) {
	defer guard(method, &err)
	n, err := m.node(method)
	if err != nil {
		return v, err
	}
	return f(n)
}
