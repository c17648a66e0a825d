package relay

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/imigee/imigee/protocol/pb"
	"github.com/imigee/imigee/relay/rendezvous"
	"github.com/imigee/imigee/relay/store"
)

// Drop reasons, the only values of the "reason" label of
// imigee_relay_drops_total. Every drop the relay makes is counted under one.
const (
	dropNotifyQueueFull = "notify_queue_full"
	dropMatchQueueFull  = "match_queue_full"
	dropGossipInvalid   = "gossip_invalid"
	dropGossipRefused   = "gossip_refused"
	dropGossipUntrusted = "gossip_untrusted"
	dropGossipOutbox    = "gossip_outbox_full"
	dropStreamLimit     = "stream_limit"
	dropRateLimit       = "rate_limit"
	dropDraining        = "draining"
	dropMemory          = "memory_budget"
	// dropBlobSize: a put whose blob is not a size class (protocol.BlobSizes).
	dropBlobSize = "blob_size"
)

// Request types, the only values of the "type" label of
// imigee_relay_requests_total.
const (
	reqChallenge = iota
	reqPut
	reqFetch
	reqAck
	reqSubscribe
	reqForget
	reqAnnounce
	reqWithdraw
	reqLateAnnounce
	reqHistoryForget
	numReqTypes
)

var reqTypeNames = [numReqTypes]string{"challenge", "put", "fetch", "ack", "subscribe", "forget", "announce", "withdraw", "late_announce", "history_forget"}

// metrics are the relay's own Prometheus metrics. Labels are closed lists
// (request type, error code, drop reason); nothing identifies a user,
// mailbox, peer or address (DESIGN.md P10; TestMetricsAggregateOnly).
type metrics struct {
	reg *prometheus.Registry

	requests       *prometheus.CounterVec // by request type
	req            [numReqTypes]prometheus.Counter
	errors         *prometheus.CounterVec // by error code
	drops          *prometheus.CounterVec // by reason
	puts           prometheus.Counter
	putBytes       prometheus.Counter
	fetched        prometheus.Counter
	acked          prometheus.Counter
	notifies       prometheus.Counter
	forgotten      prometheus.Counter
	announced      prometheus.Counter
	matches        prometheus.Counter
	gossipIn       prometheus.Counter
	gossipOut      prometheus.Counter
	gossipItemsOut prometheus.Counter
	subscribed     prometheus.Gauge
	gossipMesh     prometheus.Gauge
	gossipDrop     prometheus.Counter
	gossipDup      prometheus.Counter
	streams        *prometheus.GaugeVec // by protocol name
}

func newMetrics(st func() store.Stats, rv func() rendezvous.Stats) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c := func(name, help string) prometheus.Counter {
		x := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "imigee", Subsystem: "relay", Name: name, Help: help})
		reg.MustRegister(x)
		return x
	}
	m := &metrics{
		reg:            reg,
		puts:           c("puts_total", "Blobs stored durably."),
		putBytes:       c("put_bytes_total", "Bytes of blobs stored durably."),
		fetched:        c("fetched_blobs_total", "Blobs returned by fetches."),
		acked:          c("acked_blobs_total", "Blobs deleted by acknowledgement."),
		notifies:       c("notifies_total", "Notifications pushed to subscribers."),
		forgotten:      c("forgotten_blobs_total", "Blobs deleted by forget requests."),
		announced:      c("rendezvous_tokens_announced_total", "Rendezvous token entries added by local clients."),
		matches:        c("rendezvous_matches_total", "Rendezvous matches pushed to local clients."),
		gossipIn:       c("gossip_received_total", "Gossip items (announcements, withdrawals, late announcements, forgets) from other relays applied."),
		gossipOut:      c("gossip_published_total", "Gossip batches published (one pubsub message each)."),
		gossipItemsOut: c("gossip_items_published_total", "Gossip items published (inside batches)."),
		gossipDrop:     c("gossip_dropped_rpcs_total", "Gossip RPCs dropped because a peer's queue was full."),
		gossipDup:      c("gossip_duplicates_total", "Gossip messages received again from another relay (already seen: the mesh's redundancy)."),
	}
	m.gossipMesh = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "imigee", Subsystem: "relay", Name: "gossip_mesh_peers", Help: "Relays in this relay's gossip mesh."})
	reg.MustRegister(m.gossipMesh)
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "imigee", Subsystem: "relay", Name: "requests_total", Help: "Requests by type."}, []string{"type"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "imigee", Subsystem: "relay", Name: "errors_total", Help: "Error responses by protocol error code."}, []string{"code"})
	m.drops = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "imigee", Subsystem: "relay", Name: "drops_total", Help: "Things dropped, by reason."}, []string{"reason"})
	m.subscribed = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "imigee", Subsystem: "relay", Name: "subscribed_streams", Help: "Mailbox streams with a subscription."})
	m.streams = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "imigee", Subsystem: "relay", Name: "open_streams", Help: "Open service streams by protocol."}, []string{"protocol"})
	for i, name := range reqTypeNames {
		m.req[i] = m.requests.WithLabelValues(name)
	}
	reg.MustRegister(m.requests, m.errors, m.drops, m.subscribed, m.streams)
	for _, r := range []string{dropNotifyQueueFull, dropMatchQueueFull, dropGossipInvalid, dropGossipRefused, dropGossipUntrusted, dropGossipOutbox, dropStreamLimit, dropRateLimit, dropDraining, dropMemory, dropPutAllowance, dropConnAllowance, dropFairShare} {
		m.drops.WithLabelValues(r)
	}
	for name := range pb.ErrorCode_value {
		if name != "OK" {
			m.errors.WithLabelValues(name)
		}
	}
	g := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "imigee", Subsystem: "relay", Name: name, Help: help}, f))
	}
	g("store_blobs", "Blobs stored now.", func() float64 { return float64(st().Blobs) })
	g("store_bytes", "Blob bytes stored now.", func() float64 { return float64(st().Bytes) })
	g("store_mailboxes", "Mailboxes holding at least one blob.", func() float64 { return float64(st().Mailboxes) })
	g("store_file_bytes", "Size of the database file.", func() float64 { return float64(st().FileSize) })
	g("store_free_pages", "Free or pending bbolt pages (reusable space).", func() float64 { return float64(st().FreePages) })
	g("store_expired_total", "Blobs deleted by the expiry sweeper since start.", func() float64 { return float64(st().Expired) })
	g("store_commits_total", "Group commits since start.", func() float64 { return float64(st().Commits) })
	g("store_commit_ops_total", "Requests carried by group commits since start.", func() float64 { return float64(st().CommitOps) })
	g("rendezvous_entries", "Rendezvous token entries in memory.", func() float64 { return float64(rv().Entries) })
	g("rendezvous_record_bytes", "Sealed-record bytes in memory.", func() float64 { return float64(rv().RecordBytes) })
	g("rendezvous_sessions", "Sessions holding rendezvous entries.", func() float64 { return float64(rv().Sessions) })
	g("rendezvous_expired_total", "Rendezvous entries dropped after their epoch window.", func() float64 { return float64(rv().Expired) })
	return m
}

// error counts one error response by code.
func (m *metrics) error(code pb.ErrorCode) {
	m.errors.WithLabelValues(code.String()).Inc()
}

func (m *metrics) drop(reason string) { m.drops.WithLabelValues(reason).Inc() }
