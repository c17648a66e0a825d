package simnet

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/imigee/imigee/test/testnet"
)

// Lite-vs-QUIC tolerances of TestLiteMatchesQUIC: a copy's receive time
// and a detection's start may differ by LiteTimeTolerance plus
// LiteTimeRelTolerance of the QUIC time-to-deliver. The lite transport
// has no handshake bytes, slow start or ACK clocking, so it is a little
// faster on fresh connections (a mailbox fetch after a reconnect: 60 ms
// on sameseed.toml) and within one 10 ms tick otherwise.
const (
	LiteTimeTolerance    = 0.1  // seconds
	LiteTimeRelTolerance = 0.05 // of the QUIC time to deliver
)

// TestLiteMatchesQUIC runs testdata/sameseed.toml (two friend groups,
// two phones going offline, a relay restart, deliveries direct and by
// mailbox) once over QUIC and once over the lite transport and checks
// that both give the same meetings, the same detections (node, peer and
// end; start within tolerance) and the same deliveries (every item copy
// to the same recipient by the same path, received within tolerance) —
// the condition for using the lite transport for scale runs.
func TestLiteMatchesQUIC(t *testing.T) {
	if testing.Short() {
		t.Skip("two runs")
	}
	if raceEnabled {
		// About 40 s of CPU under -race (6 s without): make test runs it
		// without -race, next to TestSimSameSeed. The lite transport's own
		// concurrency is covered under -race by TestLiteStream,
		// TestLiteDialFailures and TestSimSmallLite.
		t.Skip("run without -race (make test does)")
	}
	var out [2]string
	var sums [2]*testnet.Summary
	for i, tr := range []string{TransportQUIC, TransportLite} {
		s, err := testnet.LoadScenario(filepath.Join("testdata", "sameseed.toml"))
		if err != nil {
			t.Fatal(err)
		}
		s.Network.Transport = tr
		out[i] = t.TempDir()
		res, err := RunScenario(t, s, testnet.Options{Out: out[i], NoPlots: true})
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = res.Summary
	}
	if a, b := stablePart(sums[0]), stablePart(sums[1]); a != b {
		t.Errorf("quic and lite differ in counts:\n%s---\n%s", a, b)
	}
	qp, lp := sums[0].Delivery.ByPath, sums[1].Delivery.ByPath
	if len(qp) != len(lp) {
		t.Errorf("paths: quic %+v, lite %+v", qp, lp)
	}
	for i := range min(len(qp), len(lp)) {
		if qp[i].Path != lp[i].Path || qp[i].Delivered != lp[i].Delivered {
			t.Errorf("path %d: quic %+v, lite %+v", i, qp[i], lp[i])
		}
	}
	if a, b := readFile(t, out[0], testnet.FileMeetings), readFile(t, out[1], testnet.FileMeetings); a != b {
		t.Error("meetings.csv differs between quic and lite")
	}

	// Detections: node, peer -> (from, to).
	qd, ld := csvRows(t, out[0], testnet.FileDetections), csvRows(t, out[1], testnet.FileDetections)
	if len(qd) != len(ld) {
		t.Fatalf("detections: quic %d, lite %d", len(qd), len(ld))
	}
	worst := 0.0
	for i := range qd {
		q, l := qd[i], ld[i]
		if q[0] != l[0] || q[1] != l[1] || q[3] != l[3] {
			t.Errorf("detection %d: quic %v, lite %v", i, q, l)
			continue
		}
		d := math.Abs(num(t, q[2]) - num(t, l[2]))
		worst = max(worst, d)
		if d > LiteTimeTolerance {
			t.Errorf("detection %d starts %.2f s apart: quic %v, lite %v", i, d, q, l)
		}
	}
	t.Logf("%d detections, starts at most %.2f s apart", len(qd), worst)

	// Deliveries: (item, to) -> (shared, received, via).
	type copyKey struct{ item, to string }
	quic := map[copyKey][]string{}
	for _, r := range csvRows(t, out[0], testnet.FileDeliveries) {
		quic[copyKey{r[0], r[2]}] = r
	}
	lite := csvRows(t, out[1], testnet.FileDeliveries)
	if len(lite) != len(quic) || len(lite) == 0 {
		t.Fatalf("deliveries: quic %d, lite %d", len(quic), len(lite))
	}
	worst = 0
	for _, l := range lite {
		q, ok := quic[copyKey{l[0], l[2]}]
		if !ok {
			t.Errorf("lite delivered %v, quic did not", l)
			continue
		}
		if q[6] != l[6] {
			t.Errorf("copy %s to %s: quic by %s, lite by %s", l[0], l[2], q[6], l[6])
		}
		ttd := num(t, q[5]) - num(t, q[4])
		d := math.Abs(num(t, q[5]) - num(t, l[5]))
		worst = max(worst, d)
		if d > LiteTimeTolerance+LiteTimeRelTolerance*ttd {
			t.Errorf("copy %s to %s received %.2f s apart (quic ttd %.2f s)", l[0], l[2], d, ttd)
		}
	}
	t.Logf("%d copies, received at most %.2f s apart", len(lite), worst)
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// csvRows are the rows of a results CSV without its header.
func csvRows(t *testing.T, dir, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("%s: %d rows, %v", name, len(rows), err)
	}
	return rows[1:]
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
