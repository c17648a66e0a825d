package protocol

import (
	"io"
	"strconv"

	"github.com/imigee/imigee/protocol/pb"
)

// Analytics protocol IDs (DESIGN.md P13).
const (
	// AnalyticsProtocol carries one AnalyticsReport and one AnalyticsAck
	// between a phone's one-off transport identity and the leader.
	AnalyticsProtocol = "/imigee/analytics/1"
	// AnalyticsAggProtocol carries AggRequest/AggResponse between the
	// leader and the helper collector.
	AnalyticsAggProtocol = "/imigee/analytics-agg/1"
)

// AnalyticsSchema is the version of the report's field list; collectors
// refuse another.
const AnalyticsSchema = 1

// AnalyticsFields names the counters of a report, in order. Each is a count
// of one day, capped at 2^AnalyticsBits − 1 on the phone; buckets are
// one-hot (one field set to 1 per phone and day). No field can hold an
// identifier: every value is a small count.
var AnalyticsFields = []string{
	"reports",
	"shared_photo", "shared_video", "shared_message", "shared_like",
	"received_photo", "received_video", "received_message", "received_like",
	"accepted", "rejected", "auto_accepted", "offered",
	"delivered_direct", "delivered_circuit", "delivered_mailbox", "delivery_failed",
	"ttd_under_1s", "ttd_under_10s", "ttd_under_1m", "ttd_under_1h", "ttd_over_1h",
	"friend_nearby", "friend_linked", "contact_match",
	"relay_connect_ok", "relay_connect_failed",
	"net_wifi", "net_cellular", "net_other",
	"platform_android", "platform_ios", "platform_desktop",
	"crash",
}

// Analytics sizes.
const (
	// AnalyticsBits is the width of each field: 16 (counts up to 65,535).
	AnalyticsBits = 16
	// AnalyticsNonceSize is a report nonce: 16.
	AnalyticsNonceSize = 16
	// MaxAnalyticsShare caps a sealed leader share: 64 KiB.
	MaxAnalyticsShare = 64 << 10
	// MaxAnalyticsSmall caps a public share, a sealed helper share, a prep
	// share or message: 2 KiB.
	MaxAnalyticsSmall = 2 << 10
	// MaxAnalyticsFrame caps an AnalyticsReport/AnalyticsAck frame: 80 KiB.
	MaxAnalyticsFrame = 80 << 10
	// MaxAggItems caps AggPrepare.items: 256.
	MaxAggItems = 256
	// MaxAggFrame caps an AggRequest/AggResponse frame: 2 MiB.
	MaxAggFrame = 2 << 20
)

// ValidateAnalyticsReport checks sizes and the schema.
func ValidateAnalyticsReport(m *pb.AnalyticsReport) error {
	if m == nil {
		return errf(badRequest, "analytics report: absent")
	}
	if m.Schema != AnalyticsSchema {
		return errf(unsupported, "analytics report: schema ", strconv.Itoa(int(m.Schema)))
	}
	if m.Day == 0 {
		return errf(badRequest, "analytics report: day 0")
	}
	if err := exact("analytics report.nonce", m.Nonce, AnalyticsNonceSize); err != nil {
		return err
	}
	if err := optional("analytics report.public_share", m.PublicShare, MaxAnalyticsSmall); err != nil {
		return err
	}
	if err := sized("analytics report.leader_share", m.LeaderShare, MaxAnalyticsShare); err != nil {
		return err
	}
	return sized("analytics report.helper_share", m.HelperShare, MaxAnalyticsSmall)
}

// ValidateAggRequest checks an AggRequest.
func ValidateAggRequest(m *pb.AggRequest) error {
	if m == nil {
		return errf(badRequest, "agg request: absent")
	}
	switch b := m.Body.(type) {
	case *pb.AggRequest_Prepare:
		p := b.Prepare
		if p == nil {
			return errf(badRequest, "agg prepare: absent")
		}
		if err := count("agg prepare.items", len(p.Items), 1, MaxAggItems); err != nil {
			return err
		}
		for i, it := range p.Items {
			f := idx("agg prepare.items", i)
			if it == nil {
				return errf(badRequest, f, "absent")
			}
			if err := exact(f+"nonce", it.Nonce, AnalyticsNonceSize); err != nil {
				return err
			}
			if err := optional(f+"public_share", it.PublicShare, MaxAnalyticsSmall); err != nil {
				return err
			}
			if err := sized(f+"helper_share", it.HelperShare, MaxAnalyticsSmall); err != nil {
				return err
			}
			if err := sized(f+"leader_prep", it.LeaderPrep, MaxAnalyticsSmall); err != nil {
				return err
			}
		}
		return nil
	case *pb.AggRequest_Collect:
		if b.Collect == nil {
			return errf(badRequest, "agg collect: absent")
		}
		return nil
	}
	return errf(unsupported, "agg request: no known body")
}

// ValidateAggResponse checks an AggResponse's sizes.
func ValidateAggResponse(m *pb.AggResponse) error {
	if m == nil {
		return errf(badRequest, "agg response: absent")
	}
	if m.Error != nil {
		return at(ValidateError(m.Error), "agg response.")
	}
	if err := count("agg response.prep_messages", len(m.PrepMessages), 0, MaxAggItems); err != nil {
		return err
	}
	for i, b := range m.PrepMessages {
		if err := optional(idx("agg response.prep_messages", i), b, MaxAnalyticsSmall); err != nil {
			return err
		}
	}
	return optional("agg response.agg_share", m.AggShare, MaxAnalyticsShare)
}

// ReadAnalyticsReport reads and validates one report frame.
func ReadAnalyticsReport(r io.Reader, m *pb.AnalyticsReport) error {
	if err := ReadMsg(r, m, MaxAnalyticsFrame); err != nil {
		return err
	}
	return ValidateAnalyticsReport(m)
}

// ReadAggRequest reads and validates one AggRequest frame.
func ReadAggRequest(r io.Reader, m *pb.AggRequest) error {
	if err := ReadMsg(r, m, MaxAggFrame); err != nil {
		return err
	}
	return ValidateAggRequest(m)
}

// ReadAggResponse reads and validates one AggResponse frame.
func ReadAggResponse(r io.Reader, m *pb.AggResponse) error {
	if err := ReadMsg(r, m, MaxAggFrame); err != nil {
		return err
	}
	return ValidateAggResponse(m)
}
