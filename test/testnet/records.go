package testnet

import (
	"cmp"
	"slices"
)

// Per-record outputs: what each side detected and what became of each
// item copy, one line each, for analyses the summary does not make and
// for checking that two runs of a seed agree (TestSimSameSeed compares
// them byte for byte).
const (
	// FileDetections: node,peer,from_s,to_s — one "nearby" interval of
	// one side (friend_nearby until friend_gone, the node going offline,
	// or the end of the run).
	FileDetections = "detections.csv"
	// FileDeliveries: item,from,to,size,shared_s,received_s,via — one
	// line per (item, recipient); received_s and via are empty when the
	// copy never arrived. Receipt (delivered) times are left to
	// events.jsonl: they can move by one event tick between runs of a
	// seed (docs/testnet.md, "Simulated network: determinism").
	FileDeliveries = "deliveries.csv"
)

// Detection is one nearby interval of one side, in ms.
type Detection struct {
	Node, Peer int
	From, To   int64
}

// Detections are the nearby intervals of every side, sorted by node,
// peer and start; end is the run's end in ms.
func Detections(events []Event, end int64) []Detection {
	var out []Detection
	openAt := map[[2]int]int64{}
	closeAt := func(k [2]int, t int64) {
		if from, ok := openAt[k]; ok {
			out = append(out, Detection{k[0], k[1], from, t})
			delete(openAt, k)
		}
	}
	for _, e := range events {
		k := [2]int{e.Node, e.Peer}
		switch e.Kind {
		case KindNearby:
			if _, ok := openAt[k]; !ok {
				openAt[k] = e.T
			}
		case KindGone:
			closeAt(k, e.T)
		case KindOffline:
			for k2 := range openAt {
				if k2[0] == e.Node {
					closeAt(k2, e.T)
				}
			}
		}
	}
	for k := range openAt {
		closeAt(k, end)
	}
	slices.SortFunc(out, func(a, b Detection) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Peer, b.Peer), cmp.Compare(a.From, b.From))
	})
	return out
}

// Delivery is one item copy: Received is -1 when it never arrived.
type Delivery struct {
	Item             string
	From, To         int
	Size             int64
	Shared, Received int64
	Via              string
}

// Deliveries are every (item, recipient) of the run, sorted by share
// time, sender, item and recipient.
func Deliveries(events []Event) []Delivery {
	type key struct {
		item string
		to   int
	}
	idx := map[key]int{}
	var out []Delivery
	for _, e := range events {
		switch e.Kind {
		case KindShared:
			for _, to := range e.To {
				k := key{e.Item, to}
				if _, ok := idx[k]; !ok {
					idx[k] = len(out)
					out = append(out, Delivery{Item: e.Item, From: e.Node, To: to, Size: e.Size, Shared: e.T, Received: -1})
				}
			}
		case KindReceived:
			i, ok := idx[key{e.Item, e.Node}]
			if ok && out[i].Received < 0 {
				out[i].Received, out[i].Via = e.T, e.Via
			}
		}
	}
	slices.SortFunc(out, func(a, b Delivery) int {
		return cmp.Or(cmp.Compare(a.Shared, b.Shared), cmp.Compare(a.From, b.From),
			cmp.Compare(a.Item, b.Item), cmp.Compare(a.To, b.To))
	})
	return out
}

func detectionRows(ds []Detection) [][]string {
	rows := [][]string{{"node", "peer", "from_s", "to_s"}}
	for _, d := range ds {
		rows = append(rows, []string{itoa(int64(d.Node)), itoa(int64(d.Peer)), ftoa(float64(d.From) / 1000), ftoa(float64(d.To) / 1000)})
	}
	return rows
}

func deliveryRows(ds []Delivery) [][]string {
	rows := [][]string{{"item", "from", "to", "size", "shared_s", "received_s", "via"}}
	for _, d := range ds {
		recv := ""
		if d.Received >= 0 {
			recv = ftoa(float64(d.Received) / 1000)
		}
		rows = append(rows, []string{d.Item, itoa(int64(d.From)), itoa(int64(d.To)), itoa(d.Size),
			ftoa(float64(d.Shared) / 1000), recv, d.Via})
	}
	return rows
}

// end is the run's end in ms (0 without a scenario).
func (r *Result) end() int64 {
	if r.scenario == nil {
		return 0
	}
	return r.scenario.Duration.Milliseconds()
}
