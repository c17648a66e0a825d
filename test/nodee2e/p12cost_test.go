package nodee2e

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imigee/imigee/node"
	"github.com/imigee/imigee/test/internal/e2e"
)

// procStat reads a process's resident set (KiB) and CPU time (user +
// system, clock ticks of 10 ms) from /proc.
func procStat(t *testing.T, pid int) (rssKiB int, cpuTicks int) {
	t.Helper()
	kb, err := e2e.ProcStatusKB(pid, "VmRSS")
	if err != nil {
		t.Skip("no /proc: ", err)
	}
	rssKiB = int(kb)
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return rssKiB, ut + st
}

// TestRelayCostPerPhone (P12 measurement, IMIGEE_MEASURE=1): a real
// imigee-relay process and 20 in-process phones in 10 linked pairs, each
// with its announce identity (reservation, rendezvous) and its mailbox
// identity of the day (subscription) connected, announcing, plus one
// offline message each (a one-off identity per put and per receipt). It
// reports the relay's RSS and CPU per connected phone.
func TestRelayCostPerPhone(t *testing.T) {
	if os.Getenv("IMIGEE_MEASURE") == "" {
		t.Skip("measurement: set IMIGEE_MEASURE=1")
	}
	dir := t.TempDir()
	r := startRelay(t, dir)
	time.Sleep(time.Second)
	rss0, cpu0 := procStat(t, r.Pid())
	const phones = 20
	var ns []*node.Node
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for range phones {
		key := make([]byte, 32)
		rand.Read(key)
		n, err := node.New(node.Config{DataDir: t.TempDir(), StoreKey: key, Relays: r.addrs, Logger: quiet, NoSync: true,
			ListenAddrs: []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		if err := n.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		ns = append(ns, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := 0; i < phones; i += 2 {
		inv, err := ns[i].Invite()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ns[i+1].Link(ctx, inv); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range ns {
		n.SetAppOpen(true)
		_ = n.SetLocation(48.8584, 2.2945, 10)
	}
	time.Sleep(5 * time.Second)
	rss1, cpu1 := procStat(t, r.Pid())
	subs := r.gauge(t, "imigee_relay_subscribed_streams")
	// Idle for 30 s: keep-alives and nothing else.
	time.Sleep(30 * time.Second)
	rss2, cpu2 := procStat(t, r.Pid())
	t.Logf("relay with %d phones (%d subscriptions): RSS %d → %d KiB (+%d KiB per phone); CPU to connect, link, subscribe and announce %d ms (%.0f ms per phone); idle CPU %d ms per 30 s for all; RSS after idle %d KiB",
		phones, subs, rss0, rss1, (rss1-rss0)/phones, (cpu1-cpu0)*10, float64((cpu1-cpu0)*10)/phones, (cpu2-cpu1)*10, rss2)
}
