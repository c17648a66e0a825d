package relaye2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"

	"github.com/imigee/imigee/test/internal/e2e"
)

// goleakOpts ignores goroutines that go-libp2p starts once per process and
// never stops (none of ours).
var goleakOpts = []goleak.Option{}

// relayPkg is the command under test.
const relayPkg = "github.com/imigee/imigee/cmd/imigee-relay"

// relayBin is the imigee-relay binary built by TestMain.
var relayBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relaye2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	relayBin, err = e2e.Build(dir, relayPkg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// Every client host, stream and process helper must be gone.
		if err := goleak.Find(goleakOpts...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// relayProc is one running imigee-relay child.
type relayProc struct {
	*e2e.Proc
	dataDir string
	info    peer.AddrInfo // peer ID and listen addresses as announced
	admin   string        // host:port of the admin server
}

// loopbackListen are the listen flags every test relay uses: QUIC and TCP
// on 127.0.0.1, ports chosen by the kernel.
var loopbackListen = []string{
	"-listen", "/ip4/127.0.0.1/udp/0/quic-v1",
	"-listen", "/ip4/127.0.0.1/tcp/0",
	"-admin", "127.0.0.1:0",
}

// startRelay runs `imigee-relay run` on dataDir with the loopback listen
// flags plus extra, waits for its announcement and returns it. logPath
// ("" = a fresh temp file) collects stderr; restarts of one relay append to
// the same file.
func startRelay(t *testing.T, dataDir, logPath string, extra ...string) *relayProc {
	t.Helper()
	if logPath == "" {
		logPath = filepath.Join(t.TempDir(), "relay.log")
	}
	args := append([]string{"run", "-data-dir", dataDir}, loopbackListen...)
	args = append(args, extra...)
	p, err := e2e.StartLog(logPath, relayBin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	kv, err := p.Announced(true)
	if err != nil {
		t.Fatal(err)
	}
	info, err := e2e.AddrInfo(kv)
	if err != nil {
		t.Fatal(err)
	}
	return &relayProc{Proc: p, dataDir: dataDir, info: info, admin: kv["admin"][0]}
}

// waitReady waits for /readyz to answer 200.
func (r *relayProc) waitReady(t *testing.T) {
	t.Helper()
	if err := e2e.WaitHTTP("http://"+r.admin+"/readyz", 200, e2e.DefaultTimeout); err != nil {
		t.Fatalf("%v\nlog:\n%s", err, r.LogTail(4096))
	}
}

// stop sends SIGTERM and requires a clean exit 0.
func (r *relayProc) stop(t *testing.T) {
	t.Helper()
	if err := r.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := r.Wait(e2e.DefaultTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Fatalf("relay exited %d after SIGTERM; log:\n%s", code, r.LogTail(4096))
	}
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (r *relayProc) kill9(t *testing.T) {
	t.Helper()
	if err := r.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Wait(e2e.DefaultTimeout); err != nil {
		t.Fatal(err)
	}
}

// runCmd runs the relay binary to completion and returns its exit code and
// combined output.
func runCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "cmd.log")
	p, err := e2e.StartLog(logPath, relayBin, args...)
	if err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait(e2e.DefaultTimeout)
	if err != nil {
		p.Kill()
		t.Fatal(err)
	}
	return code, strings.Join(p.Lines(), "\n") + "\n" + string(p.Log())
}

// eventually polls cond until it is true or the timeout passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(e2e.DefaultTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBinarySourcesTracked makes `go test` re-run this package when the
// daemon's own source files change (see e2e.TrackSources).
func TestBinarySourcesTracked(t *testing.T) {
	if err := e2e.TrackSources(relayPkg); err != nil {
		t.Fatal(err)
	}
}
