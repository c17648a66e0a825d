package relay

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/libp2p/go-libp2p/core/host"
)

// TestDefaultConfigTOML: the defaults survive a TOML round trip (what the
// daemon writes with init and reads with run) and pass validation.
func TestDefaultConfigTOML(t *testing.T) {
	d := DefaultConfig()
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(d); err != nil {
		t.Fatal(err)
	}
	var got Config
	if _, err := toml.Decode(buf.String(), &got); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if got.Limits != d.Limits || got.Rendezvous != d.Rendezvous || got.Store != d.Store || got.Circuit != d.Circuit {
		t.Fatalf("round trip changed the config:\n%s", buf.String())
	}
	if _, err := got.withDefaults(); err != nil {
		t.Fatal(err)
	}
}

// TestConfigRefusesBeyondCaps: retention over 30 days and a blob cap over
// the protocol's are refused, never clamped silently.
func TestConfigRefusesBeyondCaps(t *testing.T) {
	c := DefaultConfig()
	c.Store.Retention *= 2
	if _, err := c.withDefaults(); err == nil {
		t.Error("retention of 60 days accepted")
	}
	c = DefaultConfig()
	c.Store.MaxBlobSize = 2 << 20
	if _, err := c.withDefaults(); err == nil {
		t.Error("2 MiB blob cap accepted")
	}
}

// TestResourceLimitsDeliberate: the resource manager gets the relay's
// connection limit, not rcmgr's desktop default.
func TestResourceLimitsDeliberate(t *testing.T) {
	l := DefaultConfig().Limits
	_, c := resourceManager(l)
	sys := c.ToPartialLimitConfig().System
	if int(sys.ConnsInbound) != l.MaxConns {
		t.Fatalf("system inbound conns %v, want %d", sys.ConnsInbound, l.MaxConns)
	}
}

// TestReconnectBurst: after a restart every phone reconnects at once; a
// burst of 80 fresh clients handshaking together must not be refused by the
// resource manager (rcmgr's transient default of 48 refused about a quarter
// of 64). Hand-shake time-outs on an overloaded test machine are not
// refusals and are tolerated, as long as most clients get in.
func TestReconnectBurst(t *testing.T) {
	r := startRelay(t, testConfig(t))
	const clients = 80
	hosts := make([]host.Host, clients)
	for i := range hosts {
		hosts[i] = clientHost(t, "quic")
	}
	info := relayInfo(r, "quic")
	errs := make(chan error, clients)
	for _, h := range hosts {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			errs <- h.Connect(ctx, info)
		}()
	}
	refused, failed := 0, 0
	for range clients {
		err := <-errs
		if err == nil {
			continue
		}
		failed++
		if s := err.Error(); strings.Contains(s, "CONNECTION_REFUSED") || strings.Contains(s, "resource limit") {
			refused++
			t.Log(err)
		}
	}
	if refused > 0 || failed > clients/2 {
		t.Fatalf("%d of %d simultaneous connections refused, %d failed in all", refused, clients, failed)
	}
}
