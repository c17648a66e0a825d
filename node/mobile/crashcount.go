package mobile

// Crash signatures for anonymous analytics (DESIGN.md P13): a recovered
// panic is counted by every live node as one crash in the bucket of the
// top function's name (node.CountCrash hashes it into one of 8 buckets).
// No stack text, argument, path or value is counted; the name itself is
// neither kept nor sent.

import (
	"runtime"
	"strings"

	"github.com/imigee/imigee/node"
)

func addCrashCounter(n *node.Node) {
	crashHooks.mu.Lock()
	if crashHooks.nodes == nil {
		crashHooks.nodes = map[*node.Node]struct{}{}
	}
	crashHooks.nodes[n] = struct{}{}
	crashHooks.mu.Unlock()
}

func removeCrashCounter(n *node.Node) {
	crashHooks.mu.Lock()
	delete(crashHooks.nodes, n)
	crashHooks.mu.Unlock()
}

// countCrash counts a crash with signature top on every live node.
func countCrash(top string) {
	crashHooks.mu.Lock()
	ns := make([]*node.Node, 0, len(crashHooks.nodes))
	for n := range crashHooks.nodes {
		ns = append(ns, n)
	}
	crashHooks.mu.Unlock()
	for _, n := range ns {
		func() {
			defer func() { _ = recover() }() // counting must not crash us
			n.CountCrash(top)
		}()
	}
}

// topFunction names the function that panicked: the first frame above
// the recovering deferred call that is not the runtime's own (gopanic,
// panicmem, sigpanic) nor this package's guard. It must be called from
// the deferred guard while the panic is being recovered.
func topFunction() string {
	pcs := make([]uintptr, maxReportFrames)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if f.Function != "" && !strings.HasPrefix(f.Function, "runtime.") && !isGuard(f.Function) {
			return f.Function
		}
		if !more {
			return ""
		}
	}
}

func isGuard(fn string) bool {
	const pkg = "github.com/imigee/imigee/node/mobile."
	return fn == pkg+"guard" || fn == pkg+"guardQuiet" || fn == pkg+"topFunction"
}
