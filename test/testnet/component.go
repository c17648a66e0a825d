package testnet

import (
	"context"
	"fmt"
	"runtime/pprof"
)

// ComponentLabel is the pprof goroutine label that names the simulated
// component (a node, a relay, the driver) a goroutine works for. Backends
// run every call into a node or relay under it (InComponent), and
// goroutines inherit labels from the goroutine that starts them, so
// everything a node's host, streams and loops do carries the node's name.
// The simulated network keys its per-component random streams on it
// (simnet, "Determinism"); it also splits CPU profiles by component.
const ComponentLabel = "imigee-component"

// DriverComponent is the runner's own component name.
const DriverComponent = "driver"

// NodeComponent is node i's component name.
func NodeComponent(i int) string { return fmt.Sprintf("node/%d", i) }

// RelayComponent is relay i's component name.
func RelayComponent(i int) string { return fmt.Sprintf("relay/%d", i) }

// InComponent runs f with the calling goroutine labelled as component
// name (ComponentLabel), restoring its previous labels afterwards.
func InComponent(name string, f func()) {
	pprof.Do(context.Background(), pprof.Labels(ComponentLabel, name), func(context.Context) { f() })
}
