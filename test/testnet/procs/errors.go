package procs

import "errors"

// Errors callers branch on.
var (
	// ErrSpeedup is returned for a scenario with network.speedup != 1.
	ErrSpeedup = errors.New("procs: processes run in real time: set network.speedup = 1")
	// ErrUnknown names a relay or node index that was not created here.
	ErrUnknown = errors.New("procs: no such relay or node on this machine")
	// ErrExists is returned when creating an index twice.
	ErrExists = errors.New("procs: relay or node already created")
	// ErrCommand is a control command a Machine does not pass on.
	ErrCommand = errors.New("procs: control command not allowed")
	// ErrNoOutages is returned for reception outages (workload.outage,
	// workload.dead_zone): this backend does not drive the control
	// socket's network command yet, so processes cannot lose reception.
	ErrNoOutages = errors.New("procs: reception outages need mode sim or simnet")
	// ErrClosed is returned by a Host after Close.
	ErrClosed = errors.New("procs: machine closed")
)
