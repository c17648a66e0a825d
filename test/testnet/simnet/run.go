package simnet

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imigee/imigee/test/testnet"
)

// Environment of TestSimScenario, set by `imigee-testnet run --mode simnet`.
const (
	EnvScenario = "IMIGEE_SIM_SCENARIO" // scenario file
	EnvOut      = "IMIGEE_SIM_OUT"      // results directory
	EnvQuiet    = "IMIGEE_SIM_QUIET"    // non-empty: no progress bar
	EnvNoPlots  = "IMIGEE_SIM_NOPLOTS"  // non-empty: no plots
	// EnvRestarts non-empty keeps node restarts (offline periods) in the
	// CI scenario: see TestSimSmall.
	EnvRestarts = "IMIGEE_SIM_RESTARTS"
	// EnvHeapProfile, when set, is a file the run writes a heap profile
	// to every HeapProfileEvery of wall time (overwritten), so the last
	// one shows the heap near its peak, before the hosts close (a
	// -test.memprofile is written after they did).
	EnvHeapProfile = "IMIGEE_SIM_HEAPPROFILE"
	// EnvScratch is the directory the run's node and relay data go under
	// (Options.ScratchDir), e.g. /dev/shm; default the system temp dir.
	EnvScratch = "IMIGEE_SIM_SCRATCH"
)

// EventResolution is the simulated mode's event clock: event times are
// floored to 10 ms (Options.Resolution), coarser than the jitter that
// remains between two runs of a seed (see the package doc).
const EventResolution = 10 * time.Millisecond

// Run runs the scenario file on this backend inside a synctest bubble, so
// time is virtual: it advances only when every goroutine of the run is
// durably blocked, and then jumps to the next timer. crypto/rand is
// seeded from the scenario seed (testing/cryptotest), so keys are the
// same on every run. It must be called from a test that is not parallel
// (synctest and cryptotest need its *testing.T). opt.Backend and opt.Mode
// are set here; network.speedup is ignored (virtual time needs none).
// run.json is rewritten with the real wall time and peak RSS.
func Run(t *testing.T, file string, opt testnet.Options) (*testnet.Result, error) {
	t.Helper()
	s, err := testnet.LoadScenario(file)
	if err != nil {
		return nil, err
	}
	return RunScenario(t, s, opt)
}

// RunScenario is Run on a loaded scenario.
func RunScenario(t *testing.T, s *testnet.Scenario, opt testnet.Options) (*testnet.Result, error) {
	t.Helper()
	s.Network.Speedup = 1
	opt.Backend, opt.Mode = &Backend{Logger: opt.Log}, "simnet"
	if opt.Resolution == 0 {
		opt.Resolution = EventResolution
	}
	// Provenance outside the bubble: it runs git and reads the wall clock,
	// neither of which belongs in virtual time.
	if p := opt.Provenance; p != nil {
		pv := *p
		pv.Mode = opt.Mode
		if err := os.MkdirAll(opt.Out, 0o755); err != nil {
			return nil, err
		}
		if err := testnet.WriteProvenance(opt.Out, s, pv); err != nil {
			return nil, err
		}
		opt.Provenance = nil
	}
	streams := seedRandom(t, uint64(s.Seed))
	if s.Network.Transport == TransportLite {
		memo := shareSignatureChecks(t)
		defer func() {
			t.Logf("signature checks: %d shared, %d done", memo.hits, memo.miss)
		}()
	}
	defer func() {
		for _, d := range streams.Draws() {
			if d.Component == unlabelled {
				t.Logf("random bytes drawn outside any component: %d", d.Bytes)
			}
		}
	}()
	defer tuneRuntime()()
	defer coarserHostWork()()
	wall := time.Now()
	var res *testnet.Result
	var err error
	var vnow atomic.Int64    // virtual time, stored from inside the bubble
	var wallNow atomic.Int64 // wall time since start, stored from outside
	done := make(chan struct{})
	defer close(done)
	go watchStall(&vnow, done)
	if f := os.Getenv(EnvHeapProfile); f != "" {
		go heapProfiles(f, done)
	}
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			wallNow.Store(int64(time.Since(wall)))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	opt.Wall = func() time.Duration { return time.Duration(wallNow.Load()) }
	synctest.Test(t, func(t *testing.T) {
		tick := time.NewTicker(time.Second)
		stop := make(chan struct{})
		go func() {
			for {
				vnow.Store(time.Now().UnixNano())
				select {
				case <-tick.C:
				case <-stop:
					return
				}
			}
		}()
		testnet.InComponent(testnet.DriverComponent, func() {
			res, err = testnet.Run(context.Background(), s, opt)
		})
		tick.Stop()
		close(stop)
	})
	if err != nil {
		return nil, err
	}
	res.Run.WallSeconds = float64(time.Since(wall).Milliseconds()) / 1000
	res.Run.PeakRSSBytes = peakRSS()
	res.Run.VirtualTime = true
	return res, testnet.WriteRunInfo(opt.Out, res.Run)
}

// StallTimeout: when virtual time has not moved for this long of wall
// time, the run is stuck for good (a goroutine inside the bubble waits
// non-durably, e.g. on a sync.Mutex held across network I/O, or on a real
// socket): watchStall prints every goroutine and exits the process with
// status 3 rather than hang. 3 minutes.
const StallTimeout = 3 * time.Minute

func watchStall(vnow *atomic.Int64, done <-chan struct{}) {
	last, since := vnow.Load(), time.Now()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if v := vnow.Load(); v != last {
			last, since = v, time.Now()
			continue
		}
		if time.Since(since) > StallTimeout {
			fmt.Fprintf(os.Stderr, "simnet: virtual time has not moved for %v: a goroutine waits non-durably (see docs/testnet.md, Simulated network); goroutines:\n", StallTimeout)
			pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
			os.Exit(3)
		}
	}
}

// HeapProfileEvery is the period of EnvHeapProfile's profiles: 20 s.
const HeapProfileEvery = 20 * time.Second

// heapProfiles writes a heap profile to file every HeapProfileEvery until
// done is closed. It runs outside the bubble, on wall time.
func heapProfiles(file string, done <-chan struct{}) {
	t := time.NewTicker(HeapProfileEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		f, err := os.Create(file + ".tmp")
		if err != nil {
			continue
		}
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if f.Close() == nil && err == nil {
			os.Rename(file+".tmp", file)
		}
	}
}

// peakRSS is VmHWM from /proc/self/status, 0 where there is none.
func peakRSS() int64 { return procField("/proc/self/status", "VmHWM:") }

// procField is the "NAME: N kB" field of a /proc file in bytes, 0 where
// there is none.
func procField(file, name string) int64 {
	f, err := os.Open(file)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// RunProcs is the GOMAXPROCS of a run: 1. Inside the bubble nearly all
// work is a chain of goroutine hand-offs (a packet passes through four
// simnet goroutines and two quic-go ones); with one P the woken goroutine
// runs next on the same thread, with two every hand-off wakes another
// thread through a futex and the runtime's locks are contended. On this
// 2-core machine one P took a third less CPU and wall time (100 nodes, a
// simulated hour: 45 s → 28 s), and it removes truly parallel
// interleavings, one source of run-to-run differences. $GOMAXPROCS, when
// set, wins.
const RunProcs = 1

// RunGODEBUG is the GODEBUG setting a run wants from its process start:
// asyncpreemptoff=1. With async preemption the runtime interrupts a
// goroutine that has held its thread for 10 ms of wall time wherever it
// is; under machine load that reorders goroutines that are runnable at
// one virtual instant (two streams of one QUIC connection writing). The
// setting only stops the signal: the same preemption still happens at
// the goroutine's next function call, and the garbage collector
// reorders goroutines too, so it makes differences rarer, not gone. Over
// QUIC, whose packetization follows that order, 2 of 11 run pairs of
// TestSimSameSeed's scenario still had a delivery one 10 ms tick apart; the lite transport's results do not depend on it (see the
// package doc and docs/testnet.md, "Exact reproducibility"). A GODEBUG
// is read at process start, so imigee-testnet sets it for the simnet
// runner and make test for the same-seed test.
const RunGODEBUG = "asyncpreemptoff=1"

// RunGCPercent is the GC target of a run: 1200. A simulation keeps a
// large, long-lived heap (hosts, stores, connections) and allocates fast;
// the default 100 spent about 10 % of the CPU in the collector, and 300
// still about 8 % (1,000 phones × 3 h: 600 took 5 % less CPU per
// simulated hour for 4.9 GB peak RSS instead of 2.9 GB; docs/testnet.md,
// fifth scale pass). 1,000 phones × 8 h: 1200 took 296 s against 311 s
// at 600, for 9.7 GB peak RSS instead of 5.2 GB (eighth pass). The memory
// limit below still holds a large run. $GOGC, when set, wins.
const RunGCPercent = 1200

// RunMemoryFraction: a run's soft memory limit (debug.SetMemoryLimit) is
// this fraction of the machine's memory, 0.75. RunGCPercent lets the heap
// grow to thirteen times what is live, which at 10,000 phones would be more
// than the machine has; with the limit the collector runs at 1200 % while
// there is room and more often near the limit, instead of the run being
// killed. $GOMEMLIMIT, when set, wins.
const RunMemoryFraction = 0.75

// tuneRuntime sets RunProcs, RunGCPercent and the RunMemoryFraction limit
// unless the environment sets them, and returns the function that
// restores the previous values.
func tuneRuntime() (restore func()) {
	procs, gc, limit := -1, -1, int64(-1)
	if os.Getenv("GOMAXPROCS") == "" {
		procs = runtime.GOMAXPROCS(RunProcs)
	}
	if os.Getenv("GOGC") == "" {
		gc = debug.SetGCPercent(RunGCPercent)
	}
	if total := memTotal(); os.Getenv("GOMEMLIMIT") == "" && total > 0 {
		limit = debug.SetMemoryLimit(int64(float64(total) * RunMemoryFraction))
	}
	return func() {
		if procs > 0 {
			runtime.GOMAXPROCS(procs)
		}
		if gc != -1 {
			debug.SetGCPercent(gc)
		}
		if limit != -1 {
			debug.SetMemoryLimit(limit)
		}
	}
}

// memTotal is MemTotal from /proc/meminfo in bytes, 0 where there is none.
func memTotal() int64 {
	return procField("/proc/meminfo", "MemTotal:")
}
