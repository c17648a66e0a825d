package protocol

import (
	"bytes"
	"io"
	"strconv"
	"testing"

	"github.com/imigee/imigee/protocol/pb"
)

func TestAnalyticsValidate(t *testing.T) {
	ok := &pb.AnalyticsReport{Day: 20500, Nonce: pattern(16, 1), PublicShare: pattern(64, 2), LeaderShare: pattern(9000, 3), HelperShare: pattern(112, 4), Schema: AnalyticsSchema}
	if err := ValidateAnalyticsReport(ok); err != nil {
		t.Fatal(err)
	}
	bad := []*pb.AnalyticsReport{
		{Day: 1, Nonce: pattern(16, 1), LeaderShare: []byte{1}, HelperShare: []byte{1}, Schema: 1}, // the old field list
		{Day: 0, Nonce: pattern(16, 1), LeaderShare: []byte{1}, HelperShare: []byte{1}, Schema: AnalyticsSchema},
		{Day: 1, Nonce: pattern(15, 1), LeaderShare: []byte{1}, HelperShare: []byte{1}, Schema: AnalyticsSchema},
		{Day: 1, Nonce: pattern(16, 1), LeaderShare: pattern(MaxAnalyticsShare+1, 0), HelperShare: []byte{1}, Schema: AnalyticsSchema},
	}
	for i, m := range bad {
		if ValidateAnalyticsReport(m) == nil {
			t.Errorf("bad report %d accepted", i)
		}
	}
	big := &pb.AggRequest{Body: &pb.AggRequest_Prepare{Prepare: &pb.AggPrepare{Day: 1}}}
	for range MaxAggItems {
		big.GetPrepare().Items = append(big.GetPrepare().Items, &pb.AggItem{Nonce: pattern(16, 0), PublicShare: pattern(MaxAnalyticsSmall, 0), HelperShare: pattern(MaxAnalyticsSmall, 0), LeaderPrep: pattern(MaxAnalyticsSmall, 0)})
	}
	if err := ValidateAggRequest(big); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteMsg(&buf, big); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > MaxAggFrame {
		t.Fatalf("largest agg request %d over its cap", buf.Len())
	}
	buf.Reset()
	ok.LeaderShare = pattern(MaxAnalyticsShare, 0)
	ok.PublicShare, ok.HelperShare = pattern(MaxAnalyticsSmall, 0), pattern(MaxAnalyticsSmall, 0)
	_ = WriteMsg(&buf, ok)
	if buf.Len() > MaxAnalyticsFrame {
		t.Fatalf("largest report %d over its cap", buf.Len())
	}
}

func FuzzAnalyticsReport(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteMsg(&buf, &pb.AnalyticsReport{Day: 20500, Nonce: pattern(16, 1), LeaderShare: []byte{1}, HelperShare: []byte{2}, Schema: AnalyticsSchema})
	f.Add(buf.Bytes())
	fuzzFramed(f, MaxAnalyticsFrame, func() *pb.AnalyticsReport { return &pb.AnalyticsReport{} }, func(r io.Reader, m *pb.AnalyticsReport) error { return ReadAnalyticsReport(r, m) })
}

func FuzzAggRequest(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteMsg(&buf, &pb.AggRequest{Body: &pb.AggRequest_Prepare{Prepare: &pb.AggPrepare{Day: 1, Items: []*pb.AggItem{{Nonce: pattern(16, 0), HelperShare: []byte{1}, LeaderPrep: []byte{2}}}}}})
	f.Add(buf.Bytes())
	fuzzFramed(f, MaxAggFrame, func() *pb.AggRequest { return &pb.AggRequest{} }, func(r io.Reader, m *pb.AggRequest) error { return ReadAggRequest(r, m) })
}

func FuzzAggResponse(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteMsg(&buf, &pb.AggResponse{PrepMessages: [][]byte{{1}, {}}, Count: 3})
	f.Add(buf.Bytes())
	fuzzFramed(f, MaxAggFrame, func() *pb.AggResponse { return &pb.AggResponse{} }, func(r io.Reader, m *pb.AggResponse) error { return ReadAggResponse(r, m) })
}

// TestAnalyticsHashBucket: the bucket is pure and in range, the fields of
// the hashed groups exist for every bucket, and field names are unique.
func TestAnalyticsHashBucket(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range AnalyticsFields {
		if seen[f] {
			t.Fatalf("field %s twice", f)
		}
		seen[f] = true
	}
	hit := map[int]bool{}
	for i := range 200 {
		v := "1." + strconv.Itoa(i)
		b := AnalyticsHashBucket(v)
		if b < 0 || b >= AnalyticsHashBuckets || b != AnalyticsHashBucket(v) {
			t.Fatalf("bucket %d of %s", b, v)
		}
		hit[b] = true
		for _, g := range []string{"app_version_", "crash_sig_"} {
			if !seen[g+strconv.Itoa(b)] {
				t.Fatalf("no field %s%d", g, b)
			}
		}
	}
	if len(hit) != AnalyticsHashBuckets {
		t.Fatalf("200 versions hit %d of %d buckets", len(hit), AnalyticsHashBuckets)
	}
}
