package testnet

import (
	"math"
	"slices"
	"time"
)

// Summary is summary.json. Its fields are in a fixed order and its floats
// rounded, so equal runs give byte-identical files. It holds nothing of
// the host machine (wall time, process memory: see run.json).
type Summary struct {
	Scenario    string          `json:"scenario"`
	Mode        string          `json:"mode"`
	Seed        uint64          `json:"seed"`
	Nodes       int             `json:"nodes"`
	Relays      int             `json:"relays"`
	Friendships int             `json:"friendships"`
	DurationS   float64         `json:"duration_s"`
	EpochS      float64         `json:"epoch_s"`
	Meetings    MeetingSummary  `json:"meetings"`
	Delivery    DeliverySummary `json:"delivery"`
	Traffic     TrafficSummary  `json:"traffic"`
	Relay       RelaySummary    `json:"relay"`
	// Late is live vs late vs missed against ground truth (late.go).
	Late LateSummary `json:"late"`
}

// NetworkSummary is network.json: what the simulated network did to
// packets. Not in summary.json: queue drops move by a few packets between
// runs of a seed (same-instant scheduling, see simnet "Determinism").
type NetworkSummary struct {
	Packets     int64 `json:"packets"`      // sent onto the network
	QueueDrops  int64 `json:"queue_drops"`  // full drop-tail queues, or no such address (an old address after a restart)
	Lost        int64 `json:"lost"`         // random loss (network.loss)
	NATFiltered int64 `json:"nat_filtered"` // dropped by a phone's NAT (network.nat_fraction)
}

// MeetingSummary compares ground truth with what nodes reported.
type MeetingSummary struct {
	// ByDistance has one row per metrics distance.
	ByDistance []DistanceRow `json:"by_distance"`
	// Detections are friend_nearby events (one per side).
	Detections int `json:"detections"`
	// False are detections whose pair was never within false_distance
	// (± slack) around the time.
	False         int     `json:"false"`
	FalseDistance float64 `json:"false_distance_m"`
}

// DistanceRow is detection at one threshold. Meetings shorter than
// min_meeting are counted in Short and left out of the rates.
type DistanceRow struct {
	DistanceM    float64 `json:"distance_m"`
	Meetings     int     `json:"meetings"`
	Short        int     `json:"short"`
	ShortSeen    int     `json:"short_detected"`
	Detected     int     `json:"detected"`      // by at least one side
	DetectedBoth int     `json:"detected_both"` // by both sides
	Missed       int     `json:"missed"`
	Rate         float64 `json:"rate"`
	LatencyP50S  float64 `json:"latency_p50_s"`
	LatencyP90S  float64 `json:"latency_p90_s"`
	LatencyMaxS  float64 `json:"latency_max_s"`
}

// DeliverySummary is what became of shared items.
type DeliverySummary struct {
	Items      int     `json:"items"`
	Recipients int     `json:"recipients"` // (item, recipient) pairs
	Delivered  int     `json:"delivered"`
	Ratio      float64 `json:"ratio"`
	// Expired: a delivery_failed event (retention passed, or rejected).
	Expired     int `json:"expired"`
	Undelivered int `json:"undelivered"` // recipients - delivered
	// Undelivered, without a failure event, split by why: the recipient
	// was offline when the run ended; it was online but the item (or the
	// recipient's return) came within one epoch of the end, so it was
	// still in flight; or neither, which is a loss and should be 0.
	UndeliveredOfflineAtEnd int `json:"undelivered_offline_at_end"`
	UndeliveredInFlight     int `json:"undelivered_in_flight"`
	Lost                    int `json:"lost"`
	// ReceiptsPending: delivered, but the sender had no delivered event
	// (the signed receipt) by the end; ReceiptsLate are those delivered
	// within one epoch of the end.
	ReceiptsPending int     `json:"receipts_pending"`
	ReceiptsLate    int     `json:"receipts_late"`
	ShareErrors     int     `json:"share_errors"`
	TTDP50S         float64 `json:"ttd_p50_s"`
	TTDP90S         float64 `json:"ttd_p90_s"`
	TTDP99S         float64 `json:"ttd_p99_s"`
	// ByPath splits delivered items by the path they took, in PathOrder:
	// live streams (direct, or forwarded by a relay's circuit) vs store
	// and forward through a mailbox at a relay.
	ByPath []PathSummary `json:"by_path"`
}

// PathSummary is the deliveries that took one path.
type PathSummary struct {
	Path      string  `json:"path"` // a PathOrder entry
	Delivered int     `json:"delivered"`
	TTDP50S   float64 `json:"ttd_p50_s"`
	TTDP90S   float64 `json:"ttd_p90_s"`
	TTDP99S   float64 `json:"ttd_p99_s"`
}

// Delivery paths, as node.Event.Via names them, plus PathUnknown for a
// backend that does not report it.
const (
	PathDirect  = "direct"
	PathCircuit = "circuit"
	PathMailbox = "mailbox"
	PathUnknown = "unknown"
)

// PathOrder is the order of DeliverySummary.ByPath and of the plot lines.
var PathOrder = []string{PathDirect, PathCircuit, PathMailbox, PathUnknown}

// TrafficSummary is bytes per node per hour over the run, to 3
// significant digits: enough for a paper, and coarser than the few
// hundred bytes (identify pushes around restarts) two simulated runs of
// one seed can differ by.
type TrafficSummary struct {
	InMeanPerNodeHour  float64 `json:"in_mean_per_node_hour"`
	InP99PerNodeHour   float64 `json:"in_p99_per_node_hour"`
	OutMeanPerNodeHour float64 `json:"out_mean_per_node_hour"`
	OutP99PerNodeHour  float64 `json:"out_p99_per_node_hour"`
}

// RelaySummary is relay state over the run (sum over relays).
type RelaySummary struct {
	PeakStoredBytes       int64 `json:"peak_stored_bytes"`
	FinalStoredBytes      int64 `json:"final_stored_bytes"`
	PeakStoredBlobs       int64 `json:"peak_stored_blobs"`
	PeakRendezvousEntries int64 `json:"peak_rendezvous_entries"`
	PeakRecordBytes       int64 `json:"peak_record_bytes"`
	// PeakMemoryBytes is the largest resident memory of any one relay
	// (RelayStats.MemoryBytes; 0 where relays share the process).
	PeakMemoryBytes int64 `json:"peak_memory_bytes"`
}

// interval is a nearby state of one side: [from, to) in ms.
type interval struct{ from, to int64 }

// Analysis holds the per-event results behind the summary (plots use it).
type Analysis struct {
	// Latency per distance index: discovery latency of detected meetings
	// (seconds, the earlier side).
	Latency [][]float64
	// Censored per distance index: how long each missed meeting was
	// watched without a detection (its length plus the slack, seconds),
	// the censoring times of the discovery-latency survival curve.
	Censored [][]float64
	// TTD are times to deliver in seconds, sorted.
	TTD []float64
	// TTDByPath are the same per path (PathOrder keys), sorted.
	TTDByPath map[string][]float64
}

// Summarize computes the summary of a run.
func Summarize(s *Scenario, g *Graph, meetings []Meeting, events []Event, samples []Sample) *Summary {
	sum, _ := Analyze(s, g, meetings, events, samples)
	return sum
}

// Analyze computes the summary and the distributions behind it.
func Analyze(s *Scenario, g *Graph, meetings []Meeting, events []Event, samples []Sample) (*Summary, *Analysis) {
	end := s.Duration.Duration.Milliseconds()
	sum := &Summary{
		Scenario: s.Name, Seed: s.Seed, Nodes: s.Nodes, Relays: s.Relays, Friendships: len(g.Edges),
		DurationS: s.Duration.Seconds(), EpochS: s.Epoch.Seconds(),
	}
	an := &Analysis{}
	// Nearby intervals per directed pair.
	nearby := map[[2]int][]interval{}
	openAt := map[[2]int]int64{}
	for _, e := range events {
		k := [2]int{e.Node, e.Peer}
		switch e.Kind {
		case KindNearby:
			sum.Meetings.Detections++
			if _, ok := openAt[k]; !ok {
				openAt[k] = e.T
			}
		case KindGone:
			if from, ok := openAt[k]; ok {
				nearby[k] = append(nearby[k], interval{from, e.T})
				delete(openAt, k)
			}
		case KindOffline:
			for k2, from := range openAt {
				if k2[0] == e.Node {
					nearby[k2] = append(nearby[k2], interval{from, e.T})
					delete(openAt, k2)
				}
			}
		}
	}
	for k, from := range openAt {
		nearby[k] = append(nearby[k], interval{from, end})
	}
	slack := s.Metrics.Slack.Milliseconds()
	// detectedBy returns the latency (ms) of side a seeing b in m, or -1.
	detectedBy := func(a, b int, m Meeting) int64 {
		best := int64(-1)
		st, en := m.Start.Milliseconds(), m.End.Milliseconds()+slack
		for _, iv := range nearby[[2]int{a, b}] {
			if iv.from < en && iv.to > st {
				l := max(0, iv.from-st)
				if best < 0 || l < best {
					best = l
				}
			}
		}
		return best
	}
	an.Latency = make([][]float64, len(s.Metrics.Distances))
	an.Censored = make([][]float64, len(s.Metrics.Distances))
	for di, d := range s.Metrics.Distances {
		row := DistanceRow{DistanceM: d}
		for _, m := range meetings {
			if m.Dist != d {
				continue
			}
			la, lb := detectedBy(int(m.A), int(m.B), m), detectedBy(int(m.B), int(m.A), m)
			if m.Duration() < s.Metrics.MinMeeting.Duration {
				row.Short++
				if la >= 0 || lb >= 0 {
					row.ShortSeen++
				}
				continue
			}
			row.Meetings++
			switch {
			case la >= 0 && lb >= 0:
				row.DetectedBoth++
				row.Detected++
				an.Latency[di] = append(an.Latency[di], float64(min(la, lb))/1000)
			case la >= 0 || lb >= 0:
				row.Detected++
				an.Latency[di] = append(an.Latency[di], float64(max(la, lb))/1000)
			default:
				row.Missed++
				an.Censored[di] = append(an.Censored[di], (m.Duration().Seconds() + s.Metrics.Slack.Seconds()))
			}
		}
		row.Rate = ratio(row.Detected, row.Meetings)
		slices.Sort(an.Latency[di])
		row.LatencyP50S = round(quantile(an.Latency[di], 0.5))
		row.LatencyP90S = round(quantile(an.Latency[di], 0.9))
		row.LatencyMaxS = round(quantile(an.Latency[di], 1))
		sum.Meetings.ByDistance = append(sum.Meetings.ByDistance, row)
	}
	// False detections: the pair never within FalseDistance ± slack.
	sum.Meetings.FalseDistance = s.Metrics.FalseDistance
	wide := map[uint64][]Meeting{}
	for _, m := range meetings {
		if m.Dist == s.Metrics.FalseDistance {
			k := Edge{m.A, m.B}.Key()
			wide[k] = append(wide[k], m)
		}
	}
	for _, e := range events {
		if e.Kind != KindNearby || e.Peer < 0 {
			continue
		}
		ok := false
		for _, m := range wide[MakeEdge(e.Node, e.Peer).Key()] {
			if e.T >= m.Start.Milliseconds()-slack && e.T <= m.End.Milliseconds()+slack {
				ok = true
				break
			}
		}
		if !ok {
			sum.Meetings.False++
		}
	}
	sum.Delivery, an.TTD, an.TTDByPath = deliveries(events, end, s.Epoch.Milliseconds())
	sum.Traffic = traffic(s, samples)
	sum.Relay = relays(samples)
	sum.Late, _ = Classify(s, meetings, events)
	return sum, an
}

// deliveries summarizes items; end is the run's end and epoch its epoch
// length, both in ms.
func deliveries(events []Event, end, epoch int64) (DeliverySummary, []float64, map[string][]float64) {
	var d DeliverySummary
	type key struct {
		item string
		to   int
	}
	shared := map[string]int64{}
	sender := map[string]int{}
	want := map[key]bool{}
	got := map[key]int64{} // when received
	receipt := map[key]bool{}
	failed := map[key]bool{}
	// Unreachable now (at the end, after the loop): stopped (offline) or
	// without reception (reception.go); lastOnline is when it last became
	// reachable.
	stopped, noNet := map[int]bool{}, map[int]bool{}
	lastOnline := map[int]int64{}
	var ttd []float64
	byPath := map[string][]float64{}
	for _, e := range events {
		switch e.Kind {
		case KindOffline:
			stopped[e.Node] = true
		case KindOnline:
			stopped[e.Node] = false
			if !noNet[e.Node] {
				lastOnline[e.Node] = e.T
			}
		case KindNoNetwork:
			noNet[e.Node] = true
		case KindNetwork:
			noNet[e.Node] = false
			if !stopped[e.Node] {
				lastOnline[e.Node] = e.T
			}
		case KindDelivered:
			receipt[key{e.Item, e.Peer}] = true
		}
		switch e.Kind {
		case KindShared:
			d.Items++
			shared[e.Item] = e.T
			sender[e.Item] = e.Node
			for _, to := range e.To {
				want[key{e.Item, to}] = true
			}
		case KindShareError:
			d.ShareErrors++
		case KindReceived:
			k := key{e.Item, e.Node}
			t0, ok := shared[e.Item]
			if _, dup := got[k]; !ok || dup {
				continue
			}
			got[k] = e.T
			want[k] = true
			ttd = append(ttd, float64(e.T-t0)/1000)
			path := e.Via
			if !slices.Contains(PathOrder, path) {
				path = PathUnknown
			}
			byPath[path] = append(byPath[path], float64(e.T-t0)/1000)
		case KindFailed:
			failed[key{e.Item, e.Peer}] = true
		}
	}
	d.Recipients = len(want)
	d.Delivered = len(got)
	for k := range want {
		if at, ok := got[k]; ok {
			if !receipt[k] && sender[k.item] != k.to {
				d.ReceiptsPending++
				if end-at < epoch {
					d.ReceiptsLate++
				}
			}
			continue
		}
		switch {
		case failed[k]:
			d.Expired++
		case stopped[k.to] || noNet[k.to]:
			d.UndeliveredOfflineAtEnd++
		case end-shared[k.item] < epoch || end-lastOnline[k.to] < epoch && lastOnline[k.to] > 0:
			d.UndeliveredInFlight++
		default:
			d.Lost++
		}
	}
	d.Undelivered = d.Recipients - d.Delivered
	d.Ratio = ratio(d.Delivered, d.Recipients)
	slices.Sort(ttd)
	d.TTDP50S, d.TTDP90S, d.TTDP99S = round(quantile(ttd, .5)), round(quantile(ttd, .9)), round(quantile(ttd, .99))
	for _, path := range PathOrder {
		v := byPath[path]
		if len(v) == 0 {
			continue
		}
		slices.Sort(v)
		d.ByPath = append(d.ByPath, PathSummary{Path: path, Delivered: len(v),
			TTDP50S: round(quantile(v, .5)), TTDP90S: round(quantile(v, .9)), TTDP99S: round(quantile(v, .99))})
	}
	return d, ttd, byPath
}

// PerNodeHour returns each node's bytes in and out per hour over the run.
func PerNodeHour(s *Scenario, samples []Sample) (in, out []float64) {
	if len(samples) == 0 {
		return nil, nil
	}
	last := samples[len(samples)-1]
	hours := float64(time.Duration(last.T)*time.Millisecond) / float64(time.Hour)
	if hours <= 0 {
		return nil, nil
	}
	for i := range last.NodeIn {
		in = append(in, float64(last.NodeIn[i])/hours)
		out = append(out, float64(last.NodeOut[i])/hours)
	}
	return in, out
}

func traffic(s *Scenario, samples []Sample) TrafficSummary {
	in, out := PerNodeHour(s, samples)
	slices.Sort(in)
	slices.Sort(out)
	return TrafficSummary{
		InMeanPerNodeHour: roundTo(mean(in), 3), InP99PerNodeHour: roundTo(quantile(in, .99), 3),
		OutMeanPerNodeHour: roundTo(mean(out), 3), OutP99PerNodeHour: roundTo(quantile(out, .99), 3),
	}
}

func relays(samples []Sample) RelaySummary {
	var r RelaySummary
	for i, sm := range samples {
		var tot RelayStats
		for _, st := range sm.Relays {
			tot.StoredBytes += st.StoredBytes
			tot.StoredBlobs += st.StoredBlobs
			tot.RendezvousEntries += st.RendezvousEntries
			tot.RecordBytes += st.RecordBytes
			r.PeakMemoryBytes = max(r.PeakMemoryBytes, st.MemoryBytes)
		}
		r.PeakStoredBytes = max(r.PeakStoredBytes, tot.StoredBytes)
		r.PeakStoredBlobs = max(r.PeakStoredBlobs, tot.StoredBlobs)
		r.PeakRendezvousEntries = max(r.PeakRendezvousEntries, tot.RendezvousEntries)
		r.PeakRecordBytes = max(r.PeakRecordBytes, tot.RecordBytes)
		if i == len(samples)-1 {
			r.FinalStoredBytes = tot.StoredBytes
		}
	}
	return r
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return round(float64(a) / float64(b))
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// quantile of sorted xs by the nearest-rank method; 0 when empty.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

// round keeps 6 significant digits so float noise cannot change the JSON.
func round(x float64) float64 { return roundTo(x, 6) }

// roundTo keeps digits significant digits.
func roundTo(x float64, digits int) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	e := float64(digits-1) - math.Floor(math.Log10(math.Abs(x)))
	if e < 0 {
		// Divide by an exact power of ten, so whole results stay whole.
		q := math.Pow(10, -e)
		return math.Round(x/q) * q
	}
	p := math.Pow(10, e)
	return math.Round(x*p) / p
}
