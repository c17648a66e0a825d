package inproc

// The collectors of a run with [analytics] on (testnet/analytics.go):
// relay 0 leads, relay 1 helps, every node reports to them.

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node"
	"github.com/imigee/imigee/relay"
	"github.com/imigee/imigee/test/testnet"
)

// collectorKeys are the two collectors' box keys and shared verify key.
type collectorKeys struct {
	pub, priv [2]*[32]byte
	verify    [32]byte
	leader    string // the leader's multiaddr with /p2p/ID
}

func newCollectorKeys(plans []relayPlan) (*collectorKeys, error) {
	k := &collectorKeys{leader: plans[0].addrs[0] + "/p2p/" + plans[0].id.String()}
	for i := range 2 {
		pub, priv, err := crypto.NewCollectorKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("inproc: collector key: %w", err)
		}
		k.pub[i], k.priv[i] = pub, priv
	}
	if _, err := rand.Read(k.verify[:]); err != nil {
		return nil, err
	}
	return k, nil
}

// relayConfig makes relay i (0 or 1) a collector.
func (k *collectorKeys) relayConfig(s *testnet.Scenario, i int, plans []relayPlan, cfg *relay.Config) {
	if k == nil || i > 1 {
		return
	}
	a := relay.AnalyticsConfig{Role: "leader", Partner: plans[1].addrs[0] + "/p2p/" + plans[1].id.String(),
		MinBatch: s.Analytics.MinBatchFor(s.Nodes), ReportsPerPrefixDay: s.Nodes + 1,
		BoxPub: k.pub[i], BoxPriv: k.priv[i], VerifyKey: &k.verify}
	if i == 1 {
		a.Role, a.Partner = "helper", "/p2p/"+plans[0].id.String()
	}
	cfg.Analytics = a
}

// nodeConfig turns analytics on at a node.
func (k *collectorKeys) nodeConfig(cfg *node.Config) {
	if k == nil {
		return
	}
	cfg.Analytics = node.AnalyticsConfig{Enabled: true, Leader: k.leader, LeaderKey: k.pub[0][:], HelperKey: k.pub[1][:],
		Platform: "android", AppVersion: "testnet"}
}

// ReportAnalytics implements testnet.AnalyticsNetwork: every online node's
// networking stops first (node.Stop: the virtual clock runs on while the
// reports go out, and nothing must happen after the counts are taken);
// then each sends its finished days and today, each report from its own
// one-off transport identity; then the leader sums and publishes every
// day.
func (nw *network) ReportAnalytics(ctx context.Context) (testnet.AnalyticsPublished, error) {
	var out testnet.AnalyticsPublished
	if nw.keys == nil {
		return out, fmt.Errorf("inproc: analytics are off")
	}
	for _, nd := range nw.nodes {
		if n := nd.node(); n != nil {
			nd.as(func() { _ = n.Stop() })
		}
	}
	for _, nd := range nw.nodes {
		n := nd.node()
		if n == nil {
			continue // offline at the end: its day stays on the phone
		}
		var err error
		nd.as(func() {
			var k int
			if k, err = n.SendAnalytics(ctx); err == nil {
				out.Sent += k
				if err = n.SendAnalyticsToday(ctx); err == nil {
					out.Sent++
				}
			}
		})
		if err != nil {
			out.Failed++
			if len(out.Errors) < 10 {
				out.Errors = append(out.Errors, fmt.Sprintf("node %d: %v", nd.i, err))
			}
		}
	}
	lead := nw.relays[0]
	lead.mu.Lock()
	r := lead.r
	lead.mu.Unlock()
	if r == nil {
		return out, fmt.Errorf("inproc: the leader collector is down")
	}
	var err error
	testnet.InComponent(testnet.RelayComponent(0), func() { err = r.RunAnalyticsNow(ctx) })
	if err != nil {
		return out, err
	}
	for _, d := range r.AnalyticsResults() {
		out.Days = append(out.Days, testnet.AnalyticsDay{Day: d.Day, Date: d.Date, Count: d.Count, Totals: d.Totals})
	}
	return out, nil
}
