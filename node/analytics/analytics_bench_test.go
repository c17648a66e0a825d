package analytics

import (
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/nacl/box"
	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
)

// BenchmarkBuildReport is the phone's CPU for one report of the shipped
// schema (shard into Prio3 shares with the range proof, seal each share),
// with its wire size; BenchmarkBuildReport/raw seals the same number of
// bytes with nacl/box alone, the baseline its cost is a ratio of.
func BenchmarkBuildReport(b *testing.B) {
	lpub, _, _ := crypto.NewCollectorKey(rand.Reader)
	hpub, _, _ := crypto.NewCollectorKey(rand.Reader)
	col := Collectors{LeaderKey: lpub, HelperKey: hpub}
	vals := make([]uint64, len(protocol.AnalyticsFields))
	for i := range vals {
		vals[i] = uint64(i % 7)
	}
	rep, err := Build(1, vals, col)
	if err != nil {
		b.Fatal(err)
	}
	size := proto.Size(rep)
	b.Run("report", func(b *testing.B) {
		for b.Loop() {
			if _, err := Build(1, vals, col); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(size), "report-bytes")
		b.ReportMetric(float64(len(protocol.AnalyticsFields)), "fields")
	})
	b.Run("raw", func(b *testing.B) {
		msg := make([]byte, size)
		for b.Loop() {
			if _, err := box.SealAnonymous(nil, msg, lpub, rand.Reader); err != nil {
				b.Fatal(err)
			}
		}
	})
}
