package inproc

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/imigee/imigee/test/testnet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// libp2p and quic-go keep a few process-wide goroutines.
		goleak.IgnoreAnyFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("github.com/libp2p/go-libp2p/p2p/transport/quicreuse.(*reuse).gc"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-flow-metrics.(*sweeper).run"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/resource-manager.(*resourceManager).background"),
	)
}

// TestTinyScenario runs three real nodes and a real relay on loopback for
// five virtual minutes (15 s of wall time): the two friends standing 49 m
// apart for the whole run are detected by both, the far friend never, and
// every item reaches its (always online) recipients.
func TestTinyScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("real nodes for 30 s")
	}
	s, err := testnet.LoadScenario(filepath.Join("testdata", "tiny.toml"))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := testnet.Run(ctx, s, testnet.Options{Backend: &Backend{}, Out: out, Mode: "sim"})
	if err != nil {
		t.Fatal(err)
	}
	sum := res.Summary
	t.Logf("meetings %+v", sum.Meetings)
	t.Logf("delivery %+v", sum.Delivery)
	row := sum.Meetings.ByDistance[0]
	if row.DistanceM != 50 || row.Meetings != 1 || row.DetectedBoth != 1 {
		t.Errorf("the 50 m meeting was not detected by both: %+v", row)
	}
	if sum.Meetings.False != 0 {
		t.Errorf("%d false detections", sum.Meetings.False)
	}
	d := sum.Delivery
	if d.Items == 0 || d.Recipients == 0 || d.Delivered != d.Recipients || d.ShareErrors != 0 {
		t.Errorf("not every item reached its online friends: %+v", d)
	}
	for _, f := range append([]string{testnet.FileSummary, testnet.FileEvents}, testnet.PlotFiles...) {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("output %s missing: %v", f, err)
		}
	}
}
