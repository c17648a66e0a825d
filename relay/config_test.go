package relay

import (
	"bytes"
	"testing"

	"github.com/BurntSushi/toml"
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
