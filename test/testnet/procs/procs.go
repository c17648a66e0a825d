// Package procs is the multi-process testnet backend: every relay is an
// imigee-relay process and every node an "imigee run" process, on
// 127.0.0.1, driven through the node's control socket (see cmd/imigee's
// package doc) and read through its "-json" event stream on stdout. It is
// the bridge to running on real machines: the same binaries and the same
// scenario file.
//
// Processes use the real clock, so a run needs network.speedup = 1 and
// lasts its duration in wall time. Node byte counts are not available
// (0); relay stats come from each relay's admin /metrics endpoint.
//
// Concurrency: each process has one goroutine reading its stdout; the
// driver's mutex guards its current process.
package procs

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/test/testnet"
)

// Limits of the backend.
const (
	// StartTimeout bounds a process becoming ready: 30 s.
	StartTimeout = 30 * time.Second
	// CommandTimeout bounds one control request: 30 s.
	CommandTimeout = 30 * time.Second
	// StopTimeout is how long a process gets after SIGTERM before SIGKILL: 15 s.
	StopTimeout = 15 * time.Second
)

// Backend starts real processes.
type Backend struct {
	// Imigee and Relay are the binaries; empty means "imigee" and
	// "imigee-relay" from PATH.
	Imigee, Relay string
	// Stderr receives the processes' logs; nil discards them.
	Stderr io.Writer
}

// ErrSpeedup is returned for a scenario with network.speedup != 1.
var ErrSpeedup = errors.New("procs: processes run in real time: set network.speedup = 1")

// Open implements testnet.Backend.
func (b *Backend) Open(ctx context.Context, env *testnet.Env) (testnet.Network, error) {
	s := env.Scenario
	if s.Network.Speedup != 1 {
		return nil, ErrSpeedup
	}
	imigee, err := binary(b.Imigee, "imigee")
	if err != nil {
		return nil, err
	}
	relayBin, err := binary(b.Relay, "imigee-relay")
	if err != nil {
		return nil, err
	}
	nw := &network{env: env, imigee: imigee, relayBin: relayBin, stderr: b.Stderr}
	if nw.stderr == nil {
		nw.stderr = io.Discard
	}
	if err := nw.openRelays(ctx); err != nil {
		nw.Close()
		return nil, err
	}
	for i := 0; i < s.Nodes; i++ {
		nd, err := nw.newNode(ctx, i)
		if err != nil {
			nw.Close()
			return nil, err
		}
		nw.nodes = append(nw.nodes, nd)
	}
	for _, e := range env.Graph.Edges {
		if err := nw.link(ctx, e); err != nil {
			nw.Close()
			return nil, err
		}
	}
	return nw, nil
}

func binary(path, name string) (string, error) {
	if path == "" {
		path = name
	}
	p, err := exec.LookPath(path)
	if err != nil {
		return "", fmt.Errorf("procs: %s binary: %w", name, err)
	}
	return filepath.Abs(p)
}

type network struct {
	env              *testnet.Env
	imigee, relayBin string
	stderr           io.Writer
	relays           []*relayProc
	nodes            []*nodeProc

	ids testnet.NodeIndex // node ID (a friend ID at its friends) -> index
}

func (nw *network) Node(i int) testnet.NodeDriver   { return nw.nodes[i] }
func (nw *network) Relay(i int) testnet.RelayDriver { return nw.relays[i] }

func (nw *network) Close() error { return testnet.StopAll(nw.nodes, nw.relays) }

func freePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// proc is one running child process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process exited
}

func start(bin string, args []string, stdout func(io.Reader), stderr io.Writer) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = stderr
	var out io.ReadCloser
	if stdout != nil {
		var err error
		if out, err = cmd.StdoutPipe(); err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("procs: start %s: %w", filepath.Base(bin), err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		if out != nil {
			stdout(out)
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM and waits, then SIGKILL.
func (p *proc) stop() error {
	if p == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(StopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("procs: process ignored SIGTERM; killed")
	}
}

// relayProc is one imigee-relay process and its fixed config.
type relayProc struct {
	i      int
	dir    string
	config string
	admin  string
	addrs  []string // multiaddrs with /p2p/ID

	mu sync.Mutex // guards p
	p  *proc
	nw *network
}

func (nw *network) openRelays(ctx context.Context) error {
	s := nw.env.Scenario
	type plan struct {
		key         lcrypto.PrivKey
		id          peer.ID
		listen      []string
		admin       string
		dir, config string
	}
	plans := make([]plan, s.Relays)
	for i := range plans {
		key, _, err := lcrypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return err
		}
		id, _ := peer.IDFromPrivateKey(key)
		udp, err1 := freePort("udp")
		tcp, err2 := freePort("tcp")
		adm, err3 := freePort("tcp")
		if err := errors.Join(err1, err2, err3); err != nil {
			return fmt.Errorf("procs: free port: %w", err)
		}
		dir := filepath.Join(nw.env.Dir, fmt.Sprintf("relay-%03d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		kb, err := lcrypto.MarshalPrivateKey(key)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "identity.key"), kb, 0o600); err != nil {
			return err
		}
		plans[i] = plan{key: key, id: id, dir: dir, config: filepath.Join(dir, "relay.toml"),
			admin:  fmt.Sprintf("127.0.0.1:%d", adm),
			listen: []string{fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", udp), fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", tcp)}}
	}
	for i, p := range plans {
		var peers []string
		for j, q := range plans {
			if j != i {
				for _, a := range q.listen {
					peers = append(peers, a+"/p2p/"+q.id.String())
				}
			}
		}
		cfg := fmt.Sprintf("data_dir = %q\nidentity_file = \"identity.key\"\nlisten_addrs = %s\nnetwork = \"testnet\"\npeers = %s\n\n[rendezvous]\nepoch_seconds = %d\n\n[admin]\naddr = %q\n\n[log]\nlevel = \"warn\"\n",
			p.dir, tomlList(p.listen), tomlList(peers), int(s.Epoch.Seconds()), p.admin)
		if err := os.WriteFile(p.config, []byte(cfg), 0o600); err != nil {
			return err
		}
		rp := &relayProc{i: i, dir: p.dir, config: p.config, admin: p.admin, nw: nw}
		for _, a := range p.listen {
			rp.addrs = append(rp.addrs, a+"/p2p/"+p.id.String())
		}
		if err := rp.Start(ctx); err != nil {
			return err
		}
		nw.relays = append(nw.relays, rp)
	}
	return nil
}

func tomlList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func (rp *relayProc) Start(ctx context.Context) error {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.p != nil {
		return nil
	}
	p, err := start(rp.nw.relayBin, []string{"run", "-config", rp.config}, nil, rp.nw.stderr)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(StartTimeout)
	for {
		resp, err := http.Get("http://" + rp.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("procs: relay %d exited at start (see its stderr)", rp.i)
		case <-ctx.Done():
			p.stop()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return fmt.Errorf("procs: relay %d not ready within %v", rp.i, StartTimeout)
		}
	}
	rp.p = p
	return nil
}

func (rp *relayProc) Stop() error {
	rp.mu.Lock()
	p := rp.p
	rp.p = nil
	rp.mu.Unlock()
	return p.stop()
}

// Stats scrapes the relay's Prometheus text endpoint.
func (rp *relayProc) Stats() testnet.RelayStats {
	var st testnet.RelayStats
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + rp.admin + "/metrics")
	if err != nil {
		return st
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "imigee_relay_store_bytes":
			st.StoredBytes = int64(v)
		case "imigee_relay_store_blobs":
			st.StoredBlobs = int64(v)
		case "imigee_relay_store_file_bytes":
			st.FileBytes = int64(v)
		case "imigee_relay_rendezvous_entries":
			st.RendezvousEntries = int64(v)
		case "imigee_relay_rendezvous_record_bytes":
			st.RecordBytes = int64(v)
		}
	}
	return st
}

// nodeProc is one "imigee run" process on its data directory.
type nodeProc struct {
	nw   *network
	i    int
	dir  string
	id   string
	args []string

	mu sync.Mutex // guards p
	p  *proc
}

func (nw *network) newNode(ctx context.Context, i int) (*nodeProc, error) {
	s := nw.env.Scenario
	dir := filepath.Join(nw.env.Dir, fmt.Sprintf("node-%05d", i))
	args := []string{"init", "-data-dir", dir}
	for _, a := range nw.relays[i%len(nw.relays)].addrs {
		args = append(args, "-relay", a)
	}
	cmd := exec.CommandContext(ctx, nw.imigee, args...)
	cmd.Stderr = nw.stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("procs: imigee init node %d: %w", i, err)
	}
	np := &nodeProc{nw: nw, i: i, dir: dir, args: []string{"run", "-data-dir", dir, "-json", "-auto-accept",
		"-epoch", strconv.Itoa(int(s.Epoch.Seconds())),
		"-listen", "/ip4/127.0.0.1/udp/0/quic-v1", "-listen", "/ip4/127.0.0.1/tcp/0"}}
	if err := np.Start(ctx); err != nil {
		return nil, err
	}
	return np, nil
}

// eventLine is one line of "imigee run -json".
type eventLine struct {
	Event  string `json:"event"`
	ID     string `json:"id"`
	Friend string `json:"friend"`
	Item   string `json:"item"`
	Total  int64  `json:"total"`
	Err    string `json:"err"`
	Via    string `json:"via"`
}

func (np *nodeProc) Start(ctx context.Context) error {
	np.mu.Lock()
	defer np.mu.Unlock()
	if np.p != nil {
		return nil
	}
	started := make(chan string, 1)
	p, err := start(np.nw.imigee, np.args, func(r io.Reader) { np.readEvents(r, started) }, np.nw.stderr)
	if err != nil {
		return err
	}
	select {
	case id := <-started:
		if np.id == "" {
			np.id = id
			np.nw.ids.Set(id, np.i)
		}
	case <-p.done:
		return fmt.Errorf("procs: node %d exited at start (see its stderr)", np.i)
	case <-time.After(StartTimeout):
		p.stop()
		return fmt.Errorf("procs: node %d not started within %v", np.i, StartTimeout)
	case <-ctx.Done():
		p.stop()
		return ctx.Err()
	}
	np.p = p
	return nil
}

func (np *nodeProc) readEvents(r io.Reader, started chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e eventLine
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		ev := testnet.Event{Node: np.i, Peer: np.nw.ids.Index(e.Friend), Item: e.Item, Via: e.Via}
		switch e.Event {
		case "started":
			select {
			case started <- e.ID:
			default:
			}
			continue
		case "friend_nearby":
			ev.Kind = testnet.KindNearby
		case "friend_gone":
			ev.Kind = testnet.KindGone
		case "item_received", "message":
			ev.Kind, ev.Size = testnet.KindReceived, e.Total
		case "delivered":
			ev.Kind = testnet.KindDelivered
		case "delivery_failed":
			ev.Kind, ev.Err = testnet.KindFailed, e.Err
		default:
			continue
		}
		np.nw.env.Emit(ev)
	}
	_, _ = io.Copy(io.Discard, r)
}

func (np *nodeProc) Stop() error {
	np.mu.Lock()
	p := np.p
	np.p = nil
	np.mu.Unlock()
	return p.stop()
}

// control sends one request over the node's control socket.
func (np *nodeProc) control(req map[string]any, result any) error {
	c, err := net.DialTimeout("unix", filepath.Join(np.dir, "control.sock"), 5*time.Second)
	if err != nil {
		return fmt.Errorf("procs: node %d control: %w", np.i, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(CommandTimeout))
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("procs: node %d control: %w", np.i, err)
	}
	line, err := bufio.NewReader(io.LimitReader(c, 16<<20)).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("procs: node %d control: %w", np.i, err)
	}
	var resp struct {
		OK     bool            `json:"ok"`
		Error  string          `json:"error"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("procs: node %d control: %w", np.i, err)
	}
	if !resp.OK {
		return fmt.Errorf("procs: node %d %v: %s", np.i, req["cmd"], resp.Error)
	}
	if result != nil && len(resp.Result) > 0 {
		return json.Unmarshal(resp.Result, result)
	}
	return nil
}

func (nw *network) link(ctx context.Context, e testnet.Edge) error {
	a, b := nw.nodes[e.A], nw.nodes[e.B]
	var inv struct {
		Invite string `json:"invite"`
	}
	if err := a.control(map[string]any{"cmd": "invite"}, &inv); err != nil {
		return err
	}
	var lr struct {
		Friend string `json:"friend"`
	}
	if err := b.control(map[string]any{"cmd": "link", "text": inv.Invite}, &lr); err != nil {
		return err
	}
	// The inviter stores the friend while answering; then turn
	// auto-accept on there too.
	deadline := time.Now().Add(StartTimeout)
	for {
		err := a.control(map[string]any{"cmd": "auto-accept", "friend": b.id, "value": "on"}, nil)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("procs: link %d-%d: %w", e.A, e.B, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (np *nodeProc) SetLocation(lat, lng float64) error {
	if math.IsNaN(lat) {
		return np.control(map[string]any{"cmd": "locate", "value": "off"}, nil)
	}
	return np.control(map[string]any{"cmd": "locate", "lat": lat, "lng": lng, "accuracy": 10.0}, nil)
}

// SetAppOpen: "imigee run" counts as an open app; nothing to do.
func (np *nodeProc) SetAppOpen(bool) {}

func (np *nodeProc) Share(_ context.Context, spec testnet.ShareSpec) (string, error) {
	var to []string
	for _, t := range spec.To {
		to = append(to, np.nw.nodes[t].id)
	}
	var res struct {
		Item string `json:"item"`
	}
	if spec.Message {
		if len(to) != 1 {
			return "", errors.New("procs: a message has one recipient")
		}
		err := np.control(map[string]any{"cmd": "message", "friend": to[0], "text": strings.Repeat("m", min(spec.Size, 4096))}, &res)
		return res.Item, err
	}
	f, err := os.CreateTemp(np.nw.env.Dir, "item-*.jpg")
	if err != nil {
		return "", err
	}
	path := f.Name()
	defer os.Remove(path)
	_, err = io.CopyN(f, rand.Reader, int64(spec.Size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	err = np.control(map[string]any{"cmd": "share", "path": path, "to": to}, &res)
	return res.Item, err
}

// Stats: a process's bytes are not exposed; 0.
func (np *nodeProc) Stats() testnet.NodeStats { return testnet.NodeStats{} }
