package testnet

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// fakeBackend records what the runner asks; it reports a friend_nearby
// whenever two friends get locations within 40 m (an oracle, to check the
// plumbing, not the protocol).
type fakeBackend struct {
	mu       sync.Mutex
	env      *Env
	calls    map[string]int
	loc      map[int][2]float64
	nearby   map[[2]int]bool
	online   map[int]bool
	noNet    map[int]bool
	nextItem int
}

func (f *fakeBackend) Open(_ context.Context, env *Env) (Network, error) {
	f.env, f.calls, f.loc, f.nearby, f.online = env, map[string]int{}, map[int][2]float64{}, map[[2]int]bool{}, map[int]bool{}
	f.noNet = map[int]bool{}
	return f, nil
}
func (f *fakeBackend) Node(i int) NodeDriver   { return fakeNode{f, i} }
func (f *fakeBackend) Relay(i int) RelayDriver { return fakeRelay{f} }
func (f *fakeBackend) Close() error            { return nil }
func (f *fakeBackend) count(k string)          { f.mu.Lock(); f.calls[k]++; f.mu.Unlock() }

type fakeNode struct {
	f *fakeBackend
	i int
}

func (n fakeNode) Start(context.Context) error { n.f.count("start"); return nil }
func (n fakeNode) Stop() error                 { n.f.count("stop"); return nil }
func (n fakeNode) SetAppOpen(bool)             {}
func (n fakeNode) Stats() NodeStats            { return NodeStats{BytesIn: 1000, BytesOut: 500} }
func (n fakeNode) SetNetwork(up bool) error {
	n.f.mu.Lock()
	defer n.f.mu.Unlock()
	if up {
		n.f.calls["net_up"]++
	} else {
		n.f.calls["net_down"]++
	}
	n.f.noNet[n.i] = !up
	return nil
}
func (n fakeNode) SetLocation(lat, lng float64) error {
	f := n.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["loc"]++
	if math.IsNaN(lat) {
		delete(f.loc, n.i)
		return nil
	}
	f.loc[n.i] = [2]float64{lat, lng}
	pr := Projection{f.env.Scenario.Mobility.Lat, f.env.Scenario.Mobility.Lng}
	for _, j := range f.env.Graph.Adj[n.i] {
		l, ok := f.loc[int(j)]
		if !ok || f.nearby[[2]int{n.i, int(j)}] || f.noNet[n.i] || f.noNet[int(j)] {
			continue
		}
		if pr.Point(lat, lng).Dist(pr.Point(l[0], l[1])) < 40 {
			f.nearby[[2]int{n.i, int(j)}] = true
			f.env.Emit(Event{Kind: KindNearby, Node: n.i, Peer: int(j)})
		}
	}
	return nil
}
func (n fakeNode) Share(_ context.Context, spec ShareSpec) (string, error) {
	n.f.mu.Lock()
	n.f.nextItem++
	id := string(rune('a' + n.f.nextItem%26))
	n.f.calls["share"]++
	n.f.mu.Unlock()
	return id, nil
}

type fakeRelay struct{ f *fakeBackend }

func (r fakeRelay) Start(context.Context) error { r.f.count("relay_start"); return nil }
func (r fakeRelay) Stop() error                 { r.f.count("relay_stop"); return nil }
func (r fakeRelay) Stats() RelayStats           { return RelayStats{StoredBytes: 1} }

const runnerScenario = `nodes = 30
duration = "2h"
epoch = "5m"
[graph]
model = "groups"
groups = 3
[mobility]
model = "gatherings"
area = 1500
[[mobility.gathering]]
group = 1
at = "30m"
for = "20m"
[workload]
items_per_hour = 2
offline_fraction = 0.2
[[workload.relay_restart]]
relay = 0
at = "1h"
`

func TestRunFakeBackend(t *testing.T) {
	var sums [][]byte
	for range 2 {
		s := scenario(t, runnerScenario)
		fb := &fakeBackend{}
		out := t.TempDir()
		var bar bytes.Buffer
		res, err := Run(context.Background(), s, Options{Backend: fb, Out: out, Mode: "sim", Progress: &bar, NoPlots: true, Stepped: true})
		if err != nil {
			t.Fatal(err)
		}
		if fb.calls["stop"] != 6 || fb.calls["start"] != 6 || fb.calls["relay_stop"] != 1 || fb.calls["relay_start"] != 1 {
			t.Fatalf("offline/restart actions: %v", fb.calls)
		}
		if fb.calls["share"] == 0 || fb.calls["loc"] < 30 {
			t.Fatalf("no workload: %v", fb.calls)
		}
		if !bytes.Contains(bar.Bytes(), []byte("100%")) {
			t.Fatalf("progress bar: %q", bar.String())
		}
		// The gathering of group 1 is found by the oracle.
		if r := res.Summary.Meetings.ByDistance[0]; r.Meetings == 0 || r.Detected == 0 {
			t.Fatalf("gathering meetings: %+v", r)
		}
		b, err := os.ReadFile(filepath.Join(out, FileSummary))
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, b)
	}
	if !bytes.Equal(sums[0], sums[1]) {
		t.Fatalf("same seed, different summaries:\n%s\n%s", sums[0], sums[1])
	}
}
