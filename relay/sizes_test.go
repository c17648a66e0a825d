package relay

import (
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// TestPutOnlySizeClasses (P12): a relay stores only blobs of exactly one
// of protocol.BlobSizes; any other length is refused with BAD_REQUEST,
// counted as a blob_size drop, and changes nothing.
func TestPutOnlySizeClasses(t *testing.T) {
	cfg := testConfig(t)
	cfg.AnyBlobSize = false
	r := startRelay(t, cfg)
	s := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.MailboxProtocol)
	_, mbox := newKey(t)
	for _, n := range []int{1, 255, 256, protocol.SmallBlobSize - 1, protocol.SmallBlobSize + 1, 4 << 10, 64 << 10, protocol.BulkBlobSize - 1, protocol.BulkBlobSize + 1} {
		before := snap(r)
		if got := code(s.put(mbox, make([]byte, n))); got != pb.ErrorCode_BAD_REQUEST {
			t.Fatalf("%d-byte blob: code %v, want BAD_REQUEST", n, got)
		}
		if snap(r) != before {
			t.Fatalf("%d-byte blob changed the store", n)
		}
	}
	for _, n := range protocol.BlobSizes {
		if s.put(mbox, make([]byte, n)).GetPut() == nil {
			t.Fatalf("%d-byte blob refused", n)
		}
	}
	var m dto.Metric
	if err := r.m.drops.WithLabelValues(dropBlobSize).Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 9 {
		t.Fatalf("blob_size drops %v, want 9", got)
	}
}
