package protocol

import (
	"crypto/sha256"
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
// refuse another. 2: time to deliver in seconds-resolution buckets,
// discovery delay, live and late meetings, location accuracy, no-network
// changes, app version and crash signature buckets.
const AnalyticsSchema = 2

// AnalyticsFields names the counters of a report, in order. Each is a count
// of one day, capped at 2^AnalyticsBits − 1 on the phone; one-hot groups
// (platform_*, app_version_*) have one field set to 1 per phone and day.
// No field can hold an identifier: every value is a small count, and the
// bucketed groups are coarse by construction (location accuracy in four
// bands, never a place; app version and crash signature as a hash mod
// AnalyticsHashBuckets, never text).
var AnalyticsFields = []string{
	"reports",
	"shared_photo", "shared_video", "shared_message", "shared_like",
	"received_photo", "received_video", "received_message", "received_like",
	"accepted", "rejected", "auto_accepted", "offered",
	"delivered_direct", "delivered_circuit", "delivered_mailbox", "delivery_failed",
	// Time from share to the recipient's receipt, per delivered item.
	"ttd_under_10s", "ttd_under_1m", "ttd_under_10m", "ttd_under_1h", "ttd_under_1d", "ttd_over_1d",
	// Time from arriving at a place to a friend found there (counted by
	// the later of the two to arrive).
	"disc_under_1m", "disc_under_5m", "disc_under_15m", "disc_under_1h", "disc_over_1h",
	// Meetings: friend_nearby live, friend_was_nearby learned late.
	"friend_nearby", "friend_was_nearby", "friend_linked", "contact_match",
	// Location fixes (at most one a minute) by reported accuracy.
	"loc_acc_under_10m", "loc_acc_under_50m", "loc_acc_under_200m", "loc_acc_over_200m",
	"relay_connect_ok", "relay_connect_failed",
	// Network changes by kind (net_none: the device lost its network).
	"net_wifi", "net_cellular", "net_other", "net_none",
	"platform_android", "platform_ios", "platform_desktop",
	"app_version_0", "app_version_1", "app_version_2", "app_version_3",
	"app_version_4", "app_version_5", "app_version_6", "app_version_7",
	// Crashes caught at the mobile boundary, and by signature bucket.
	"crash",
	"crash_sig_0", "crash_sig_1", "crash_sig_2", "crash_sig_3",
	"crash_sig_4", "crash_sig_5", "crash_sig_6", "crash_sig_7",
}

// AnalyticsHashBuckets is how many buckets the hashed groups (app_version_*,
// crash_sig_*) have: 8. A bucket is the first byte of SHA-256 of the text
// mod 8 (AnalyticsHashBucket); the text never leaves the device, and with 8
// buckets no bucket can single out a rare build or a rare crash.
const AnalyticsHashBuckets = 8

// Analytics sizes.
const (
	// AnalyticsBits is the width of each field: 12 (counts up to 4,095 a
	// day, above any honest day's count of one kind; it is also the most a
	// lying phone can add to one total). The report's size and the
	// proof's cost grow with fields × bits: 12 instead of 16 saves a
	// quarter of both.
	AnalyticsBits = 12
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

// AnalyticsHashBucket maps a text (an app version, a crash's top function
// name) to its bucket in [0, AnalyticsHashBuckets): pure, so collectors
// can label the buckets of known releases.
func AnalyticsHashBucket(text string) int {
	h := sha256.Sum256([]byte(text))
	return int(h[0]) % AnalyticsHashBuckets
}
