package testnet

// Live, late or missed (issue 10): every ground-truth meeting long enough
// to count (metrics.min_meeting) is classified by what the phones
// reported:
//
//   - live: a side had a "nearby" interval (friend_nearby, detections.csv)
//     overlapping [start, end + slack] — the existing detection rule;
//   - late: otherwise, a side raised friend_was_nearby for the pair with a
//     span overlapping [start − slack, end + slack] (after the fact, from a
//     late announcement matched against a relay's history and confirmed
//     by the friend end to end);
//   - missed: neither.
//
// The delay is from the meeting's start to the detection: the discovery
// latency for live ones (the earlier side when both saw it), the time of
// the first covering friend_was_nearby event for late ones (hours, when a
// phone regains reception hours later). Items shared because of a late
// match are the item copies a phone received from a friend it had met
// only after the fact: the sender had raised friend_was_nearby for it
// before sharing, and neither side had seen the other live before.

import (
	"cmp"
	"slices"
)

// FileOutcomes: a,b,distance_m,start_s,end_s,outcome,delay_s,outage — one
// line per ground-truth meeting long enough to count, per distance:
// outcome live, late or missed; delay_s empty when missed; outage 1 when a
// side was without reception at some time of the meeting.
const FileOutcomes = "meeting_outcomes.csv"

// Meeting outcomes.
const (
	OutcomeLive   = "live"
	OutcomeLate   = "late"
	OutcomeMissed = "missed"
)

// LateSummary is summary.json's "late" section: live vs late vs missed
// against ground truth, and what the after-the-fact path cost and gave.
type LateSummary struct {
	ByDistance []LateRow `json:"by_distance"`
	// Detections are friend_was_nearby events (one per side and span).
	Detections int `json:"detections"`
	// False are friend_was_nearby events whose span has no ground-truth
	// meeting of the pair within false_distance (± slack).
	False int `json:"false"`
	// Outages are reception_lost events (phones losing reception).
	Outages int `json:"outages"`
	// ItemsAfterLate are item copies received from a friend the receiver
	// had met only after the fact (see the file comment).
	ItemsAfterLate int `json:"items_after_late"`
}

// LateRow classifies the meetings of one distance that lasted at least
// min_meeting.
type LateRow struct {
	DistanceM float64 `json:"distance_m"`
	Meetings  int     `json:"meetings"`
	// InOutage: meetings during which a side had no reception at some time.
	InOutage int `json:"in_outage"`
	Live     int `json:"live"`
	Late     int `json:"late"`
	// LateBoth: late meetings both sides raised friend_was_nearby for.
	LateBoth    int     `json:"late_both"`
	Missed      int     `json:"missed"`
	LiveShare   float64 `json:"live_share"`
	LateShare   float64 `json:"late_share"`
	MissedShare float64 `json:"missed_share"`
	// Delays from the meeting's start to the detection, seconds.
	LiveDelayP50S float64 `json:"live_delay_p50_s"`
	LiveDelayP90S float64 `json:"live_delay_p90_s"`
	LateDelayP50S float64 `json:"late_delay_p50_s"`
	LateDelayP90S float64 `json:"late_delay_p90_s"`
	LateDelayMaxS float64 `json:"late_delay_max_s"`
}

// Outcome is one meeting's classification.
type Outcome struct {
	Meeting
	Outcome string
	// Delay from the meeting's start to the detection, ms (-1 when missed).
	Delay  int64
	Outage bool
}

// LateAnalysis is the per-meeting result behind LateSummary (plots and
// meeting_outcomes.csv use it).
type LateAnalysis struct {
	Outcomes []Outcome
	// LiveDelay and LateDelay per distance index, seconds, sorted.
	LiveDelay, LateDelay [][]float64
}

// Classify sorts every meeting of at least min_meeting into live, late or
// missed, and counts the late path's events and items. events must be
// sorted by time (NewResult sorts them).
func Classify(s *Scenario, meetings []Meeting, events []Event) (LateSummary, *LateAnalysis) {
	end := s.Duration.Duration.Milliseconds()
	slack := s.Metrics.Slack.Milliseconds()
	live := map[[2]int][]Detection{}
	for _, d := range Detections(events, end) {
		k := [2]int{d.Node, d.Peer}
		live[k] = append(live[k], d)
	}
	var sum LateSummary
	late := map[[2]int][]Event{} // directed (node, peer) friend_was_nearby, in time order
	outage := map[int][]interval{}
	lostAt := map[int]int64{}
	for _, e := range events {
		switch e.Kind {
		case KindWasNearby:
			sum.Detections++
			late[[2]int{e.Node, e.Peer}] = append(late[[2]int{e.Node, e.Peer}], e)
		case KindNoNetwork:
			sum.Outages++
			if _, ok := lostAt[e.Node]; !ok {
				lostAt[e.Node] = e.T
			}
		case KindNetwork:
			if from, ok := lostAt[e.Node]; ok {
				outage[e.Node] = append(outage[e.Node], interval{from, e.T})
				delete(lostAt, e.Node)
			}
		}
	}
	for n, from := range lostAt {
		outage[n] = append(outage[n], interval{from, end})
	}
	// liveDelay is side a's discovery latency of b in m (ms), or -1.
	liveDelay := func(a, b int, st, en int64) int64 {
		best := int64(-1)
		for _, d := range live[[2]int{a, b}] {
			if d.From < en+slack && d.To > st {
				if l := max(0, d.From-st); best < 0 || l < best {
					best = l
				}
			}
		}
		return best
	}
	// lateAt is the time of side a's first friend_was_nearby for b whose
	// span covers [st, en] give or take the slack, or -1.
	lateAt := func(a, b int, st, en int64) int64 {
		for _, e := range late[[2]int{a, b}] {
			if e.SpanFrom < en+slack && e.SpanTo > st-slack {
				return e.T
			}
		}
		return -1
	}
	inOutage := func(n int, st, en int64) bool {
		for _, iv := range outage[n] {
			if iv.from < en && iv.to > st {
				return true
			}
		}
		return false
	}
	an := &LateAnalysis{LiveDelay: make([][]float64, len(s.Metrics.Distances)), LateDelay: make([][]float64, len(s.Metrics.Distances))}
	for di, dist := range s.Metrics.Distances {
		row := LateRow{DistanceM: dist}
		for _, m := range meetings {
			if m.Dist != dist || m.Duration() < s.Metrics.MinMeeting.Duration {
				continue
			}
			a, b := int(m.A), int(m.B)
			st, en := m.Start.Milliseconds(), m.End.Milliseconds()
			o := Outcome{Meeting: m, Outcome: OutcomeMissed, Delay: -1, Outage: inOutage(a, st, en) || inOutage(b, st, en)}
			row.Meetings++
			if o.Outage {
				row.InOutage++
			}
			la, lb := liveDelay(a, b, st, en), liveDelay(b, a, st, en)
			ta, tb := lateAt(a, b, st, en), lateAt(b, a, st, en)
			switch {
			case la >= 0 || lb >= 0:
				o.Outcome, o.Delay = OutcomeLive, firstNonNeg(la, lb)
				row.Live++
				an.LiveDelay[di] = append(an.LiveDelay[di], float64(o.Delay)/1000)
			case ta >= 0 || tb >= 0:
				o.Outcome, o.Delay = OutcomeLate, max(0, firstNonNeg(ta, tb)-st)
				row.Late++
				if ta >= 0 && tb >= 0 {
					row.LateBoth++
				}
				an.LateDelay[di] = append(an.LateDelay[di], float64(o.Delay)/1000)
			default:
				row.Missed++
			}
			an.Outcomes = append(an.Outcomes, o)
		}
		row.LiveShare, row.LateShare, row.MissedShare = ratio(row.Live, row.Meetings), ratio(row.Late, row.Meetings), ratio(row.Missed, row.Meetings)
		slices.Sort(an.LiveDelay[di])
		slices.Sort(an.LateDelay[di])
		row.LiveDelayP50S, row.LiveDelayP90S = round(quantile(an.LiveDelay[di], .5)), round(quantile(an.LiveDelay[di], .9))
		row.LateDelayP50S, row.LateDelayP90S = round(quantile(an.LateDelay[di], .5)), round(quantile(an.LateDelay[di], .9))
		row.LateDelayMaxS = round(quantile(an.LateDelay[di], 1))
		sum.ByDistance = append(sum.ByDistance, row)
	}
	sum.False = lateFalse(s, meetings, late)
	sum.ItemsAfterLate = itemsAfterLate(events)
	return sum, an
}

// firstNonNeg is the smaller of two times where -1 means none.
func firstNonNeg(a, b int64) int64 {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return min(a, b)
}

// lateFalse counts friend_was_nearby events whose span meets no
// ground-truth meeting of the pair within false_distance, ± slack.
func lateFalse(s *Scenario, meetings []Meeting, late map[[2]int][]Event) int {
	slack := s.Metrics.Slack.Milliseconds()
	wide := map[uint64][]Meeting{}
	for _, m := range meetings {
		if m.Dist == s.Metrics.FalseDistance {
			k := Edge{m.A, m.B}.Key()
			wide[k] = append(wide[k], m)
		}
	}
	n := 0
	for k, evs := range late {
		for _, e := range evs {
			ok := false
			for _, m := range wide[MakeEdge(k[0], k[1]).Key()] {
				if e.SpanFrom < m.End.Milliseconds()+slack && e.SpanTo > m.Start.Milliseconds()-slack {
					ok = true
					break
				}
			}
			if !ok {
				n++
			}
		}
	}
	return n
}

// itemsAfterLate counts received item copies whose sender had raised
// friend_was_nearby for the receiver before sharing it (or before the
// receipt, for items the runner did not share: a node's own
// taken-while-together shares) while neither side had seen the other
// live before then.
func itemsAfterLate(events []Event) int {
	sharedAt := map[string]int64{}
	lateAt := map[[2]int]int64{} // (sender, receiver) -> first friend_was_nearby
	liveAt := map[uint64]int64{} // pair -> first friend_nearby of either side
	n := 0
	for _, e := range events {
		switch e.Kind {
		case KindShared:
			if _, ok := sharedAt[e.Item]; !ok {
				sharedAt[e.Item] = e.T
			}
		case KindWasNearby:
			if _, ok := lateAt[[2]int{e.Node, e.Peer}]; !ok && e.Peer >= 0 {
				lateAt[[2]int{e.Node, e.Peer}] = e.T
			}
		case KindNearby:
			if e.Peer >= 0 {
				if _, ok := liveAt[MakeEdge(e.Node, e.Peer).Key()]; !ok {
					liveAt[MakeEdge(e.Node, e.Peer).Key()] = e.T
				}
			}
		case KindReceived:
			if e.Peer < 0 {
				continue
			}
			t0, ok := sharedAt[e.Item]
			if !ok {
				t0 = e.T
			}
			lt, ok := lateAt[[2]int{e.Peer, e.Node}]
			if !ok || lt > t0 {
				continue
			}
			if vt, ok := liveAt[MakeEdge(e.Node, e.Peer).Key()]; ok && vt <= t0 {
				continue
			}
			n++
		}
	}
	return n
}

func outcomeRows(os []Outcome) [][]string {
	os = slices.Clone(os)
	slices.SortStableFunc(os, func(a, b Outcome) int {
		return cmp.Or(cmp.Compare(a.Dist, b.Dist), cmp.Compare(a.Start, b.Start), cmp.Compare(a.A, b.A), cmp.Compare(a.B, b.B))
	})
	rows := [][]string{{"a", "b", "distance_m", "start_s", "end_s", "outcome", "delay_s", "outage"}}
	for _, o := range os {
		delay, out := "", "0"
		if o.Delay >= 0 {
			delay = ftoa(float64(o.Delay) / 1000)
		}
		if o.Outage {
			out = "1"
		}
		rows = append(rows, []string{itoa(int64(o.A)), itoa(int64(o.B)), ftoa(o.Dist),
			ftoa(o.Start.Seconds()), ftoa(o.End.Seconds()), o.Outcome, delay, out})
	}
	return rows
}
