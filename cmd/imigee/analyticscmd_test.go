package main

import (
	"strings"
	"testing"
)

// TestAnalyticsConfig: analytics stay off without both flags; one flag
// alone, bad hex, a missing helper key or a key that is not 32 bytes is
// refused (never half on, never silently off); both valid flags turn it on
// with exactly the given keys.
func TestAnalyticsConfig(t *testing.T) {
	k1, k2 := strings.Repeat("11", 32), strings.Repeat("22", 32)
	if c, err := analyticsConfig(&runFlags{}); err != nil || c.Enabled {
		t.Fatalf("no flags: %+v %v", c, err)
	}
	for _, rf := range []runFlags{
		{anLeader: "/ip4/127.0.0.1/udp/1/quic-v1"},
		{anKeys: k1 + "," + k2},
		{anLeader: "/x", anKeys: k1},
		{anLeader: "/x", anKeys: k1 + ",zz"},
		{anLeader: "/x", anKeys: k1 + "," + k2[:62]},
		{anLeader: "/x", anKeys: k1 + "," + k2 + "00"},
	} {
		if c, err := analyticsConfig(&rf); err == nil || c.Enabled {
			t.Errorf("%+v: want an error, got %+v", rf, c)
		}
	}
	c, err := analyticsConfig(&runFlags{anLeader: "/x", anKeys: k1 + "," + k2})
	if err != nil || !c.Enabled || c.Leader != "/x" || c.LeaderKey[0] != 0x11 || c.HelperKey[0] != 0x22 || len(c.LeaderKey) != 32 || len(c.HelperKey) != 32 {
		t.Fatalf("valid flags: %+v %v", c, err)
	}
}
