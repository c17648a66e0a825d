package procs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/test/testnet"
)

// Limits of a Host.
const (
	// MaxShareSize caps a photo SharePhoto makes: 64 MiB (the scenario's
	// size_max bound).
	MaxShareSize = 64 << 20
	// resolveTimeout bounds resolving HostConfig.Advertise: 10 s.
	resolveTimeout = 10 * time.Second
)

// HostConfig configures a Host.
type HostConfig struct {
	// Imigee and Relay are the binaries; empty means "imigee" and
	// "imigee-relay" from PATH.
	Imigee, Relay string
	// Dir holds the relays' and nodes' data directories (created).
	Dir string
	// Advertise is the IP address or host name other machines reach this
	// one at; it goes into the relay multiaddrs CreateRelay returns. A
	// name is resolved once, to an IPv4 address. Empty means 127.0.0.1.
	// Processes listen on it when it is a loopback address, else on
	// every interface.
	Advertise string
	// Stderr receives the processes' logs; nil discards them.
	Stderr io.Writer
	// Emit receives node events (from the processes' reader goroutines);
	// nil discards them.
	Emit func(NodeEvent)
	// Log receives the host's own logs; nil discards them.
	Log *slog.Logger
}

// Host is a Machine that runs processes on this computer: the procs
// backend's own when it runs without workers, and what a worker serves.
type Host struct {
	cfg              HostConfig
	imigee, relayBin string
	listenIP         string // where processes listen: the advertised IP or the wildcard
	advertiseIP      string
	ipProto          string // "ip4" or "ip6" (multiaddr protocol)
	http             *http.Client

	mu     sync.Mutex // guards relays, nodes and closed
	relays map[int]*hostRelay
	nodes  map[int]*hostNode
	closed bool
}

var _ Machine = (*Host)(nil)

// NewHost checks the binaries and resolves the advertised address.
func NewHost(cfg HostConfig) (*Host, error) {
	imigee, err := binary(cfg.Imigee, "imigee")
	if err != nil {
		return nil, err
	}
	relayBin, err := binary(cfg.Relay, "imigee-relay")
	if err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		return nil, errors.New("procs: host: no data directory")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("procs: host: %w", err)
	}
	ip, err := ResolveAdvertise(cfg.Advertise)
	if err != nil {
		return nil, err
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	if cfg.Emit == nil {
		cfg.Emit = func(NodeEvent) {}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	h := &Host{cfg: cfg, imigee: imigee, relayBin: relayBin, advertiseIP: ip.String(), ipProto: "ip4",
		relays: map[int]*hostRelay{}, nodes: map[int]*hostNode{}, http: newLocalClient()}
	if ip.Is6() {
		h.ipProto = "ip6"
	}
	switch {
	case ip.IsLoopback():
		h.listenIP = ip.String()
	case ip.Is6():
		h.listenIP = "::"
	default:
		h.listenIP = "0.0.0.0"
	}
	return h, nil
}

// ResolveAdvertise turns an advertised host ("" for 127.0.0.1, an IP, or
// a name resolved to its first IPv4 address) into an IP address.
func ResolveAdvertise(host string) (netip.Addr, error) {
	if host == "" {
		return netip.MustParseAddr("127.0.0.1"), nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.IsUnspecified() {
			return netip.Addr{}, fmt.Errorf("procs: advertise %s: not an address others can reach", host)
		}
		return ip.Unmap(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("procs: advertise %s: %w", host, err)
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("procs: advertise %s: no IPv4 address", host)
	}
	return ips[0].Unmap(), nil
}

func (h *Host) lookup(relay bool, i int) (any, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	var v any
	var ok bool
	if relay {
		v, ok = h.relays[i]
	} else {
		v, ok = h.nodes[i]
	}
	if !ok {
		return nil, fmt.Errorf("%w: index %d", ErrUnknown, i)
	}
	return v, nil
}

func (h *Host) relay(i int) (*hostRelay, error) {
	v, err := h.lookup(true, i)
	if err != nil {
		return nil, err
	}
	if r := v.(*hostRelay); r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("%w: relay %d is being created", ErrUnknown, i)
}

func (h *Host) node(i int) (*hostNode, error) {
	v, err := h.lookup(false, i)
	if err != nil {
		return nil, err
	}
	if n := v.(*hostNode); n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("%w: node %d is being created", ErrUnknown, i)
}

// reserve claims index i so concurrent creates of one index fail.
func (h *Host) reserve(relay bool, i int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	if relay {
		if _, ok := h.relays[i]; ok {
			return fmt.Errorf("%w: relay %d", ErrExists, i)
		}
		h.relays[i] = nil
	} else {
		if _, ok := h.nodes[i]; ok {
			return fmt.Errorf("%w: node %d", ErrExists, i)
		}
		h.nodes[i] = nil
	}
	return nil
}

// settle stores a created relay or node, or frees its index on failure.
// One created while the host was closing is stopped.
func (h *Host) settle(relay bool, i int, v interface{ Stop() error }, err error) {
	h.mu.Lock()
	closed := h.closed
	switch {
	case relay && (err != nil || closed):
		delete(h.relays, i)
	case relay:
		h.relays[i] = v.(*hostRelay)
	case err != nil || closed:
		delete(h.nodes, i)
	default:
		h.nodes[i] = v.(*hostNode)
	}
	h.mu.Unlock()
	if closed && err == nil {
		_ = v.Stop()
	}
}

func (h *Host) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// Close stops every node, then every relay, and waits for them. Later
// calls return ErrClosed from every method but Close.
func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	var nodes []*hostNode
	var relays []*hostRelay
	for _, i := range sortedKeys(h.nodes) {
		if n := h.nodes[i]; n != nil {
			nodes = append(nodes, n)
		}
	}
	for _, i := range sortedKeys(h.relays) {
		if r := h.relays[i]; r != nil {
			relays = append(relays, r)
		}
	}
	h.mu.Unlock()
	return testnet.StopAll(nodes, relays)
}

func sortedKeys[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// hostRelay is one imigee-relay process and its fixed files and ports.
type hostRelay struct {
	h      *Host
	i      int
	dir    string
	admin  string   // 127.0.0.1:port
	listen []string // listen multiaddrs
	addrs  []string // advertised multiaddrs with /p2p/ID

	mu sync.Mutex // guards p
	p  *proc
}

// CreateRelay implements Machine.
func (h *Host) CreateRelay(ctx context.Context, i int) (addrs []string, err error) {
	if err := h.reserve(true, i); err != nil {
		return nil, err
	}
	r := &hostRelay{h: h, i: i}
	defer func() { h.settle(true, i, r, err) }()
	key, _, err := lcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("procs: relay %d key: %w", i, err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("procs: relay %d key: %w", i, err)
	}
	udp, err1 := freePort("udp", h.listenIP)
	tcp, err2 := freePort("tcp", h.listenIP)
	adm, err3 := freePort("tcp", "127.0.0.1")
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	dir := filepath.Join(h.cfg.Dir, fmt.Sprintf("relay-%03d", i))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("procs: relay %d: %w", i, err)
	}
	kb, err := lcrypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("procs: relay %d key: %w", i, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "identity.key"), kb, 0o600); err != nil {
		return nil, fmt.Errorf("procs: relay %d: %w", i, err)
	}
	r.dir, r.admin = dir, fmt.Sprintf("127.0.0.1:%d", adm)
	for _, lp := range []struct {
		ip   string
		list *[]string
	}{{h.listenIP, &r.listen}, {h.advertiseIP, &r.addrs}} {
		*lp.list = []string{
			fmt.Sprintf("/%s/%s/udp/%d/quic-v1", h.ipProto, lp.ip, udp),
			fmt.Sprintf("/%s/%s/tcp/%d", h.ipProto, lp.ip, tcp),
		}
	}
	for k := range r.addrs {
		r.addrs[k] += "/p2p/" + id.String()
	}
	return append([]string(nil), r.addrs...), nil
}

// StartRelay implements Machine.
func (h *Host) StartRelay(ctx context.Context, i int, spec RelaySpec) error {
	r, err := h.relay(i)
	if err != nil {
		return err
	}
	return r.start(ctx, spec)
}

// StopRelay implements Machine.
func (h *Host) StopRelay(_ context.Context, i int) error {
	r, err := h.relay(i)
	if err != nil {
		return err
	}
	return r.Stop()
}

// RelayStats implements Machine.
func (h *Host) RelayStats(ctx context.Context, i int) (testnet.RelayStats, error) {
	r, err := h.relay(i)
	if err != nil {
		return testnet.RelayStats{}, err
	}
	r.mu.Lock()
	up := r.p != nil
	r.mu.Unlock()
	if !up {
		return testnet.RelayStats{}, nil
	}
	return scrapeRelay(ctx, h.http, "http://"+r.admin+"/metrics")
}

func (r *hostRelay) start(ctx context.Context, spec RelaySpec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p != nil {
		return nil
	}
	if r.h.isClosed() {
		return ErrClosed
	}
	config := filepath.Join(r.dir, "relay.toml")
	cfg := fmt.Sprintf("data_dir = %q\nidentity_file = \"identity.key\"\nlisten_addrs = %s\nnetwork = \"testnet\"\npeers = %s\n\n[rendezvous]\nepoch_seconds = %d\n\n[admin]\naddr = %q\n\n[log]\nlevel = \"warn\"\n",
		r.dir, tomlList(r.listen), tomlList(spec.Peers), spec.EpochSeconds, r.admin)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("procs: relay %d config: %w", r.i, err)
	}
	p, err := start(r.h.relayBin, []string{"run", "-config", config}, nil, r.h.cfg.Stderr)
	if err != nil {
		return err
	}
	if err := waitReady(ctx, r.h.http, p, "http://"+r.admin+"/readyz", fmt.Sprintf("relay %d", r.i)); err != nil {
		_ = p.stop()
		return err
	}
	r.p = p
	r.h.cfg.Log.Debug("relay started", "relay", r.i)
	return nil
}

// Stop stops the relay process; its data stays.
func (r *hostRelay) Stop() error {
	r.mu.Lock()
	p := r.p
	r.p = nil
	r.mu.Unlock()
	return p.stop()
}

func tomlList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
