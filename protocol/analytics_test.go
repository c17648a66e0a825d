package protocol

import (
	"bytes"
	"io"
	"testing"

	"github.com/imigee/imigee/protocol/pb"
)

func TestAnalyticsValidate(t *testing.T) {
	ok := &pb.AnalyticsReport{Day: 20500, Nonce: pattern(16, 1), PublicShare: pattern(64, 2), LeaderShare: pattern(9000, 3), HelperShare: pattern(112, 4), Schema: AnalyticsSchema}
	if err := ValidateAnalyticsReport(ok); err != nil {
		t.Fatal(err)
	}
	bad := []*pb.AnalyticsReport{
		{Day: 1, Nonce: pattern(16, 1), LeaderShare: []byte{1}, HelperShare: []byte{1}, Schema: 2},
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
