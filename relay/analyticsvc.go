package relay

// Glue between the relay and relay/analytics (the analytics collector
// role, DESIGN.md P13): config, stream handlers, the daily summing loop, the
// published report (JSON, HTML) and its Prometheus gauges.

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"path/filepath"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	lprotocol "github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
	"github.com/imigee/imigee/relay/analytics"
)

// AnalyticsFile is the collector database inside Config.DataDir.
const AnalyticsFile = "analytics.db"

// analyticsInterval is how often the leader looks for days to sum.
const analyticsInterval = 10 * time.Minute

// AnalyticsConfig makes the relay an analytics collector. Role "" (the
// default) = not a collector. Two relays of different operators pair up:
// one "leader" (takes phones' reports), one "helper".
type AnalyticsConfig struct {
	// Role is "", "leader" or "helper".
	Role string `toml:"role"`
	// KeyFile holds this collector's X25519 key (made on first start;
	// relative to data_dir). Publish its public key (imigee-relay
	// analytics-key) in the network configuration phones use.
	KeyFile string `toml:"key_file"`
	// VerifyKeyFile holds the 32-byte secret both collectors share to check
	// reports' proofs; copy it from one to the other.
	VerifyKeyFile string `toml:"verify_key_file"`
	// Partner is the other collector (multiaddr ending in /p2p/ID): the
	// leader dials it; the helper answers only it.
	Partner string `toml:"partner"`
	// MinBatch is the fewest reports a published day sums. Default 100.
	MinBatch int `toml:"min_batch"`
	// ReportsPerPrefixDay caps reports per address prefix per day (leader).
	// Default 64.
	ReportsPerPrefixDay int `toml:"reports_per_prefix_day"`

	// BoxPub, BoxPriv and VerifyKey are loaded from the files by the daemon.
	BoxPub    *[32]byte `toml:"-"`
	BoxPriv   *[32]byte `toml:"-"`
	VerifyKey *[32]byte `toml:"-"`
}

type analyticsState struct {
	c       *analytics.Collector
	partner peer.AddrInfo
}

func (r *Relay) openAnalytics() error {
	a := r.cfg.Analytics
	if a.Role == "" {
		return nil
	}
	if a.BoxPub == nil || a.BoxPriv == nil || a.VerifyKey == nil {
		return fmt.Errorf("relay: analytics %s: keys not loaded", a.Role)
	}
	ai, err := peer.AddrInfoFromString(a.Partner)
	if err != nil {
		return fmt.Errorf("relay: analytics partner %q: %w", a.Partner, err)
	}
	c, err := analytics.New(analytics.Config{
		Role: a.Role, BoxPub: a.BoxPub, BoxPriv: a.BoxPriv, VerifyKey: *a.VerifyKey,
		MinBatch: a.MinBatch, ReportsPerPrefixDay: a.ReportsPerPrefixDay, Now: r.cfg.Now, NoSync: r.cfg.NoSync,
	}, filepath.Join(r.cfg.DataDir, AnalyticsFile))
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	r.analytics = &analyticsState{c: c, partner: *ai}
	r.m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "imigee", Subsystem: "relay", Name: "analytics_pending_reports", Help: "Analytics reports waiting to be summed (leader)."},
		func() float64 { return float64(c.Pending()) }))
	for _, f := range protocol.AnalyticsFields {
		f := f
		r.m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "imigee", Subsystem: "analytics", Name: f,
			Help: "Latest published day's total of " + f + " over all reporting phones."},
			func() float64 { return float64(r.latestAnalytics().Totals[f]) }))
	}
	r.m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "imigee", Subsystem: "analytics", Name: "published_reports", Help: "Reports summed in the latest published day."},
		func() float64 { return float64(r.latestAnalytics().Count) }))
	return nil
}

func (r *Relay) latestAnalytics() analytics.Result {
	if r.analytics == nil {
		return analytics.Result{}
	}
	return r.analytics.c.Latest()
}

// startAnalytics registers the collector's protocol and, for the leader,
// starts the summing loop (owned by r.wg).
func (r *Relay) startAnalytics() {
	a := r.analytics
	if a == nil {
		return
	}
	switch r.cfg.Analytics.Role {
	case analytics.Leader:
		r.host.SetStreamHandler(lprotocol.ID(protocol.AnalyticsProtocol), r.handler("analytics", func(s serviceStream, cs *connState) {
			ns, ok := s.(network.Stream)
			if !ok {
				return
			}
			// One report frame and its ack, reserved and charged before
			// anything is read.
			release, err := r.admitOneShot(cs, protocol.MaxAnalyticsFrame+256)
			if err != nil {
				_ = s.SetWriteDeadline(time.Now().Add(r.cfg.Limits.WriteTimeout.D()))
				_ = protocol.WriteMsg(s, &pb.AnalyticsAck{Error: protocol.ToPB(err)})
				return
			}
			defer release()
			a.c.ServeReport(ns, addrPrefix(ns.Conn()))
		}))
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			t := time.NewTicker(analyticsInterval)
			defer t.Stop()
			for {
				if err := r.RunAnalytics(r.ctx); err != nil {
					r.cfg.Logger.Warn("relay: analytics summing", "err", err)
				}
				select {
				case <-r.ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	case analytics.Helper:
		r.host.SetStreamHandler(lprotocol.ID(protocol.AnalyticsAggProtocol), r.handler("analytics-agg", func(s serviceStream, cs *connState) {
			ns, ok := s.(network.Stream)
			if !ok || ns.Conn().RemotePeer() != a.partner.ID {
				return // only the configured leader may ask
			}
			// The request and the answer, each up to MaxAggFrame.
			release, err := r.admitOneShot(cs, 2*protocol.MaxAggFrame)
			if err != nil {
				_ = s.SetWriteDeadline(time.Now().Add(r.cfg.Limits.WriteTimeout.D()))
				_ = protocol.WriteMsg(s, &pb.AggResponse{Error: protocol.ToPB(err)})
				return
			}
			defer release()
			a.c.ServeAgg(ns)
		}))
	}
}

// RunAnalytics sums and publishes the days that are due (leader; the loop
// calls it every 10 minutes, tests with an injected clock call it).
func (r *Relay) RunAnalytics(ctx context.Context) error {
	if r.analytics == nil {
		return nil
	}
	return r.analytics.c.RunDue(ctx, r.callHelper)
}

// RunAnalyticsNow sums and publishes every day holding reports, its
// window closed or not (leader): for a testnet, whose day ends with the
// run. The minimum batch holds as ever.
func (r *Relay) RunAnalyticsNow(ctx context.Context) error {
	if r.analytics == nil {
		return nil
	}
	return r.analytics.c.RunNow(ctx, r.callHelper)
}

func (r *Relay) callHelper(ctx context.Context, req *pb.AggRequest) (*pb.AggResponse, error) {
	ai := r.analytics.partner
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	r.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
	s, err := r.host.NewStream(ctx, ai.ID, lprotocol.ID(protocol.AnalyticsAggProtocol))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(2 * time.Minute))
	if err := protocol.WriteMsg(s, req); err != nil {
		return nil, err
	}
	var resp pb.AggResponse
	if err := protocol.ReadAggResponse(s, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// AnalyticsCollector returns the collector (nil unless the relay is one),
// for inspection: tests scan its state for identifiers (P13).
func (r *Relay) AnalyticsCollector() *analytics.Collector {
	if r.analytics == nil {
		return nil
	}
	return r.analytics.c
}

// AnalyticsResults returns every published day (empty unless a leader).
func (r *Relay) AnalyticsResults() []analytics.Result {
	if r.analytics == nil {
		return []analytics.Result{}
	}
	return r.analytics.c.Published()
}

func (r *Relay) closeAnalytics() error {
	if r.analytics == nil {
		return nil
	}
	return r.analytics.c.Close()
}

var analyticsPage = template.Must(template.New("a").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Imigee analytics</title>
<style>body{font:14px sans-serif;margin:2em}td{padding:2px 8px}.bar{background:#4a7;height:12px}</style></head>
<body><h1>Imigee analytics</h1>
<p>Totals over all reporting phones, per published day. A day is published only when at least the
minimum batch of reports was summed; no single phone's values exist anywhere.</p>
{{range .}}<h2>{{.Date}} — {{.Count}} reports</h2><table>
{{range .Rows}}<tr><td>{{.Name}}</td><td align="right">{{.Value}}</td><td><div class="bar" style="width:{{.Width}}px"></div></td></tr>
{{end}}</table>{{else}}<p>Nothing published yet.</p>{{end}}
</body></html>`))

// AnalyticsHandler serves the published days as JSON (Accept or ?format=json)
// and as a small HTML page with bars; mount it on the admin listener.
func (r *Relay) AnalyticsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		res := r.AnalyticsResults()
		if req.URL.Query().Get("format") == "json" {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(res)
			return
		}
		type row struct {
			Name  string
			Value uint64
			Width int
		}
		type day struct {
			analytics.Result
			Rows []row
		}
		var days []day
		for _, d := range res {
			var top uint64 = 1
			for _, v := range d.Totals {
				top = max(top, v)
			}
			dd := day{Result: d}
			names := make([]string, 0, len(d.Totals))
			for k := range d.Totals {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				dd.Rows = append(dd.Rows, row{k, d.Totals[k], int(400 * d.Totals[k] / top)})
			}
			days = append(days, dd)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = analyticsPage.Execute(w, days)
	})
}

// admitOneShot admits a one-request stream (the analytics protocols) under
// the relay's limits before anything is read: the connection's rate
// limiter is charged as for a frame of n bytes, and n bytes (the largest
// request plus its answer) are reserved with the memory budget on the
// connection's and source's shares until release is called. Errors are
// RATE_LIMITED or UNAVAILABLE.
func (r *Relay) admitOneShot(cs *connState, n int) (release func(), err error) {
	if !cs.allow(time.Now(), frameCost(n)) {
		r.m.drop(dropRateLimit)
		return nil, &protocol.Error{Code: pb.ErrorCode_RATE_LIMITED, Detail: "request rate exceeded"}
	}
	acct := memAccount{r.mem, cs}
	if err := acct.Reserve(n); err != nil {
		return nil, err
	}
	return func() { acct.Release(n) }, nil
}
