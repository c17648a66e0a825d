// go-libp2p-pubsub picks mesh and gossip peers with math/rand's global
// source; without this it is seeded at random and relays gossip along
// different paths on every run (package doc, "Determinism").
// cryptocustomrand=1 makes the standard library's crypto draw from the
// reader it is given, the per-component streams of streams.go, not from
// one process-wide stream in goroutine order (TestCryptoDrawsPerComponent).
//
//go:debug randautoseed=0
//go:debug cryptocustomrand=1

package simnet

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/imigee/imigee/test/testnet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Process-wide goroutines of libp2p's logging, started outside any
		// bubble.
		goleak.IgnoreAnyFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

// TestSimSmall runs testdata/small.toml (10 nodes, 2 relays, one
// simulated hour) on the simulated network under virtual time and checks
// the three properties: every meeting of friends within 50 m that
// lasts long enough to hold a whole epoch (metrics.min_meeting, 2 epochs)
// is detected by both sides, with no false detection; every item reaches
// its online friends; and the friend who was offline gets what was shared
// meanwhile, after it returns.
func TestSimSmall(t *testing.T) { simSmall(t, TransportQUIC) }

// TestSimSmallLite is TestSimSmall over the lite transport (lite.go), the
// lite transport's run under -race.
func TestSimSmallLite(t *testing.T) { simSmall(t, TransportLite) }

func simSmall(t *testing.T, transport string) {
	s := loadSmall(t)
	s.Network.Transport = transport
	restarts := nodeReady || os.Getenv(EnvRestarts) != ""
	if !restarts {
		s.Workload.Offline = nil
	}
	out := t.TempDir()
	res, err := RunScenario(t, s, testnet.Options{Out: out, NoPlots: true})
	if err != nil {
		t.Fatal(err)
	}
	sum := res.Summary
	t.Logf("run %+v", res.Run)
	t.Logf("meetings %+v", sum.Meetings)
	t.Logf("delivery %+v", sum.Delivery)
	row := sum.Meetings.ByDistance[0]
	if row.DistanceM != 50 || row.Meetings < 10 || row.Missed != 0 || row.DetectedBoth != row.Meetings {
		t.Errorf("not every 50 m meeting was detected by both sides: %+v", row)
	}
	if sum.Meetings.False != 0 {
		t.Errorf("%d false detections", sum.Meetings.False)
	}
	d := sum.Delivery
	if d.Items == 0 || d.Delivered != d.Recipients || d.ShareErrors != 0 || d.Expired != 0 {
		t.Errorf("not every item reached its friends: %+v", d)
	}
	// Node 3 is offline during [12m, 27m): what its friends shared then
	// arrives after 27m.
	const off, on = 12 * 60_000, 27 * 60_000
	sharedAt := map[string]int64{}
	whileOff := 0
	for _, e := range res.Events {
		switch {
		case e.Kind == testnet.KindShared:
			for _, to := range e.To {
				if to == 3 {
					sharedAt[e.Item] = e.T
				}
			}
		case e.Kind == testnet.KindReceived && e.Node == 3:
			if at, ok := sharedAt[e.Item]; ok && restarts && at >= off && at < on {
				whileOff++
				if e.T < on {
					t.Errorf("item %s received at %d ms while offline", e.Item, e.T)
				}
			}
		}
	}
	if whileOff == 0 && restarts {
		t.Error("nothing was shared to the offline friend; the scenario needs another seed")
	}
	var bytesOut int64
	for _, v := range res.Samples[len(res.Samples)-1].NodeOut {
		bytesOut += v
	}
	if bytesOut == 0 {
		t.Error("node byte counters stayed 0")
	}
}

// nodeReady: node/ has the two changes the simulated mode needs (see
// docs/testnet.md, "Simulated network"): node.announcing and inPlace copy
// the location under n.mu (today a data race with SetLocation, which
// -race reports here because every node gets a position every step), and
// the mailbox catch-up waits for its turn on a channel, not a sync.Mutex
// (a mutex waiter is not durably blocked, so a restart stalls virtual
// time for good). Until then the CI scenario runs without its offline
// period and not under -race. Flip when node/ has both.
const nodeReady = true

func loadSmall(t *testing.T) *testnet.Scenario {
	t.Helper()
	if raceEnabled && !nodeReady {
		t.Skip("node/meet.go races with SetLocation (nodeReady)")
	}
	s, err := testnet.LoadScenario(filepath.Join("testdata", "small.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSimSameSeed: two runs of testdata/sameseed.toml (the CI scenario
// with two phones going offline and a relay restarting) per transport.
//
// Over the lite transport (lite.go), which the simulation owns end to
// end, they write byte-identical summary.json, meetings.csv,
// detections.csv, deliveries.csv and events.jsonl: every component draws
// from its own random streams (streams.go), the wire and the runner
// settle before every step and order what goroutines wrote in one round
// canonically (wireorder.go), and the node no longer races two catch-ups
// after a reconnect (node catchUpAfterSubscribe). Under -race the runtime
// shuffles its run queues on purpose (runtime.randomizeScheduler), and
// the relays' answers to a group that gathers and announces at one
// instant can move by a message (under a millisecond), so there it
// compares what must not depend on timing (meetings.csv and the counts of
// meetings, detections — live, late, missed — and deliveries) and logs
// the rest; make test runs it without -race too.
//
// Over QUIC it always compares only that: how quic-go packs stream data
// into packets follows the order in which its connection goroutine and
// the goroutines writing to its streams run at one virtual instant (a
// 362-byte packet in one run is an 83- and a 305-byte one in the next),
// which the runtime decides: select among ready cases and the scheduler
// use the runtime's own random numbers, and the garbage collector and the
// 10 ms preemption of a goroutine that holds its thread (asyncpreemptoff
// only stops the signal, not the preemption at the next function call)
// follow wall time. Packet times then move by microseconds to
// milliseconds, and a delivery crossed a 10 ms tick of the event clock
// in 2 of 11 run pairs (docs/testnet.md, "Exact reproducibility").
func TestSimSameSeed(t *testing.T) {
	if testing.Short() {
		t.Skip("four runs")
	}
	for _, tr := range []string{TransportLite, TransportQUIC} {
		t.Run(tr, func(t *testing.T) {
			if raceEnabled && tr == TransportQUIC {
				// Under -race both pairs compare counts only, and two QUIC
				// runs cost half as much again as two lite ones; QUIC's
				// concurrency under -race is TestSimSmall's, and make test
				// runs this pair without -race.
				t.Skip("run without -race (make test does)")
			}
			sameSeed(t, tr, tr == TransportLite && !raceEnabled)
		})
	}
}

// sameSeed runs sameseed.toml twice over transport tr and compares the
// results: byte for byte when strict, else the timing-free part.
func sameSeed(t *testing.T, tr string, strict bool) {
	files := []string{testnet.FileSummary, testnet.FileMeetings, testnet.FileDetections, testnet.FileDeliveries, testnet.FileEvents}
	var got [2]map[string][]byte
	var stable [2]string
	for i := range got {
		s, err := testnet.LoadScenario(filepath.Join("testdata", "sameseed.toml"))
		if err != nil {
			t.Fatal(err)
		}
		s.Network.Transport = tr
		out := t.TempDir()
		res, err := RunScenario(t, s, testnet.Options{Out: out, NoPlots: true})
		if err != nil {
			t.Fatal(err)
		}
		if d := res.Summary.Delivery; d.Delivered == 0 || d.ByPath[len(d.ByPath)-1].Path != testnet.PathMailbox {
			t.Errorf("the scenario should deliver through a mailbox too: %+v", d)
		}
		stable[i] = stablePart(res.Summary)
		got[i] = map[string][]byte{}
		for _, f := range files {
			if got[i][f], err = os.ReadFile(filepath.Join(out, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if stable[0] != stable[1] {
		t.Errorf("same seed, different results:\n%s---\n%s", stable[0], stable[1])
	}
	if !strict {
		t.Logf("%s (race %v): timing differences are logged, not failed", tr, raceEnabled)
	}
	for _, f := range files {
		report := t.Errorf
		if !strict && f != testnet.FileMeetings {
			report = t.Logf
		}
		if a, b := lines(got[0][f]), lines(got[1][f]); !slices.Equal(a, b) {
			for i := range max(len(a), len(b)) {
				if i >= len(a) || i >= len(b) || a[i] != b[i] {
					report("same seed, %s differs from line %d:\n%s\n%s", f, i+1, at(a, i), at(b, i))
					break
				}
			}
		}
	}
}

func lines(b []byte) []string { return strings.Split(string(b), "\n") }

func at(ls []string, i int) string {
	if i < len(ls) {
		return ls[i]
	}
	return "(end)"
}

// stablePart is what two runs of a seed agree on even when the scheduler
// is shuffled: meetings, detections and deliveries, not their timing.
func stablePart(sum *testnet.Summary) string {
	var b strings.Builder
	for _, r := range sum.Meetings.ByDistance {
		fmt.Fprintf(&b, "%g m: %d meetings, %d short, %d detected, %d both, %d missed\n",
			r.DistanceM, r.Meetings, r.Short, r.Detected, r.DetectedBoth, r.Missed)
	}
	for _, r := range sum.Late.ByDistance {
		fmt.Fprintf(&b, "%g m: %d live, %d late, %d missed\n", r.DistanceM, r.Live, r.Late, r.Missed)
	}
	fmt.Fprintf(&b, "late detections %d, outages %d\n", sum.Late.Detections, sum.Late.Outages)
	d := sum.Delivery
	fmt.Fprintf(&b, "false %d; items %d, recipients %d, delivered %d, expired %d, errors %d\n",
		sum.Meetings.False, d.Items, d.Recipients, d.Delivered, d.Expired, d.ShareErrors)
	return b.String()
}

// TestSimScenario is the entry point of `imigee-testnet run --mode
// simnet`: it runs the scenario file in $IMIGEE_SIM_SCENARIO into the
// results directory $IMIGEE_SIM_OUT, with a progress bar on stderr
// unless $IMIGEE_SIM_QUIET is set and without plots if $IMIGEE_SIM_NOPLOTS
// is set. Skipped when the variables are unset.
func TestSimScenario(t *testing.T) {
	file, out := os.Getenv(EnvScenario), os.Getenv(EnvOut)
	if file == "" || out == "" {
		t.Skipf("set %s and %s to run a scenario", EnvScenario, EnvOut)
	}
	opt := testnet.Options{Out: out, NoPlots: os.Getenv(EnvNoPlots) != "", ScratchDir: os.Getenv(EnvScratch)}
	if os.Getenv(EnvQuiet) == "" {
		opt.Progress = os.Stderr
	}
	// imigee-testnet writes provenance.json before it starts this; run by
	// hand, the test writes it.
	if _, err := os.Stat(filepath.Join(out, testnet.FileProvenance)); err != nil {
		opt.Provenance = &testnet.Provenance{Tool: "simnet test binary", Args: os.Args, ScenarioFile: file}
	}
	res, err := Run(t, file, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wall %.1f s, peak heap %d MiB", res.Run.WallSeconds, res.Run.PeakHeapBytes>>20)
}
