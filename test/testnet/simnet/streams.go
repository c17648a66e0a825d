package simnet

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	mrand "math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/cryptotest"
	"unsafe"

	"github.com/imigee/imigee/test/testnet"
)

// Per-component random streams.
//
// cryptotest.SetGlobalRandom gives the whole process one seeded stream. A
// run draws from it in goroutine order: when two nodes share at the same
// virtual instant, which one gets the next 16 bytes for its item ID
// depends on the scheduler (and select's random choices), so every later
// item ID, nonce and key shifts, and with them anything ordered by ID.
// So crypto/rand.Reader, which the node and relay use for every ID, key,
// nonce and seed they make (rand.Read and the readers they pass to
// crypto/...), is replaced by componentReader: one ChaCha8 stream per
// component (a node, a relay, the driver) and draw site (the function that
// asked, drawSite), seeded with SHA-256(scenario seed, component, site);
// the component is the calling goroutine's ComponentLabel
// (testnet.InComponent). A node's item IDs then depend only on how many
// items that node made before, not on what every other goroutine, or
// another part of the same node (QUIC drawing connection IDs), drew
// first.
//
// The standard library's crypto ignores a caller's reader since Go 1.26
// and draws from its own source, which cryptotest.SetGlobalRandom makes
// one process-wide seeded stream: drawn in goroutine order again. Most of
// those bytes change nothing that can be measured, but ECDSA's do: the
// libp2p TLS certificate and every handshake's CertificateVerify are
// ECDSA signatures whose DER length (70–72 bytes) follows the random
// nonce, so handshake packets changed size between runs of a seed and
// every later packet time on those links moved by microseconds, enough to
// move a delivery across a 10 ms event tick now and then. So the simnet
// test binary sets GODEBUG cryptocustomrand=1 (sim_test.go), under which
// the standard library uses the reader it is given, which is this one;
// the randutil.MaybeReadByte that comes with it (one byte drawn or not,
// at random, so that nobody takes a reader for a way to make crypto
// deterministic) is answered without touching a stream
// (TestCryptoDrawsPerComponent). What stays on cryptotest's stream is
// what the standard library draws without a reader to use, and draws
// from goroutines without a label (the runtime starts time.AfterFunc
// callbacks from whichever goroutine runs timers; counted as
// "unlabelled", per draw site).

// componentReader is crypto/rand.Reader during a simulated run.
type componentReader struct {
	seed uint64

	mu      sync.Mutex
	streams map[string]*mrand.ChaCha8
	draws   map[string]int64 // bytes per component, for tests and diagnostics
}

// unlabelled is the stream of goroutines without a component label.
const unlabelled = "unlabelled"

func (r *componentReader) Read(b []byte) (int, error) {
	site, skip := drawSite()
	if skip {
		clear(b)
		return len(b), nil
	}
	name := currentComponent()
	if name == "" {
		name = unlabelled
	}
	key := name + " " + site
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.streams[key]
	if s == nil {
		s = mrand.NewChaCha8(streamSeed(r.seed, key))
		r.streams[key] = s
	}
	r.draws[name] += int64(len(b))
	return s.Read(b)
}

// drawSite is the function that asked for randomness: the first caller
// outside the standard library's crypto, io and this reader, and outside
// the module's own crypto package (which draws for whoever called it), e.g.
// "github.com/imigee/imigee/node.(*Node).newItemID" or quic-go's
// connection-ID generator.
func drawSite() (site string, maybeByte bool) {
	// Most sites are within a few frames of the reader: walk 8 first (a
	// third of the unwinding; the full walk was 1.5 % of a run's CPU).
	// Walking 4 first measured no better over a day (sites behind this
	// module's crypto package are deeper and then cost both walks).
	var short [8]uintptr
	runtime.Callers(3, short[:])
	v, ok := shortSites.Load(short)
	if !ok {
		st, mb, found := frameSite(short[:])
		v = siteOf{st, mb, found}
		shortSites.Store(short, v)
	}
	if s := v.(siteOf); s.found {
		return s.site, s.maybeByte
	}
	var pcs [24]uintptr
	runtime.Callers(3, pcs[:])
	if v, ok := siteCache.Load(pcs); ok {
		s := v.(siteOf)
		return s.site, s.maybeByte
	}
	site, maybeByte, found := frameSite(pcs[:])
	siteCache.Store(pcs, siteOf{site, maybeByte, found})
	return site, maybeByte
}

// siteCache maps a call stack (its program counters) to its drawSite:
// symbolising the stack at every draw was about 1 % of a run's CPU, and
// a run has a few thousand distinct stacks that draw. shortSites does the
// same for the stack's first 8 program counters; its entries that did not
// find the site there send drawSite to the full stack.
var siteCache, shortSites sync.Map // [24]uintptr or [8]uintptr → siteOf

type siteOf struct {
	site      string
	maybeByte bool
	found     bool // decided within the frames looked at
}

// frameSite returns the first frame of pcs that decides the draw's site,
// found false when none does (then site is "" and maybeByte false).
func frameSite(pcs []uintptr) (site string, maybeByte, found bool) {
	n := 0
	for n < len(pcs) && pcs[n] != 0 {
		n++
	}
	if n == 0 {
		return "", false, false
	}
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if f.Function == maybeReadByte {
			return "", true, true
		}
		if !skipFrame(f.Function) {
			return f.Function, false, true
		}
		if !more {
			return "", false, false
		}
	}
}

// maybeReadByte draws one byte from a caller's reader with probability
// 1/2 from the runtime's own random numbers, so that nobody relies on a
// reader making crypto deterministic; under cryptocustomrand=1 (see
// seedRandom) it is answered without touching a stream.
const maybeReadByte = "crypto/internal/randutil.MaybeReadByte"

func skipFrame(fn string) bool {
	for _, p := range []string{"crypto/", "io.", "github.com/imigee/imigee/crypto.", "github.com/imigee/imigee/test/testnet/simnet."} {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

// streamSeed is SHA-256 of the little-endian seed and the component name.
func streamSeed(seed uint64, name string) [32]byte {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(name))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Draws are the bytes drawn per component so far, sorted by name.
func (r *componentReader) Draws() []ComponentDraws {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ComponentDraws, 0, len(r.draws))
	for k, v := range r.draws {
		out = append(out, ComponentDraws{k, v})
	}
	slices.SortFunc(out, func(a, b ComponentDraws) int { return strings.Compare(a.Component, b.Component) })
	return out
}

// ComponentDraws is how many random bytes one component drew.
type ComponentDraws struct {
	Component string
	Bytes     int64
}

// seedRandom seeds the standard library's crypto from seed
// (cryptotest.SetGlobalRandom) and installs a componentReader as
// crypto/rand.Reader for the rest of test t.
func seedRandom(t *testing.T, seed uint64) *componentReader {
	cryptotest.SetGlobalRandom(t, seed)
	r := &componentReader{seed: seed, streams: map[string]*mrand.ChaCha8{}, draws: map[string]int64{}}
	prev := rand.Reader
	rand.Reader = r
	t.Cleanup(func() { rand.Reader = prev })
	return r
}

// getProfLabel is the calling goroutine's pprof label set (nil without
// one): the runtime pushes this symbol to runtime/pprof, which is what
// allows the pull here. Its layout is runtime/pprof's labelMap, a
// label.Set of key/value pairs (internal/runtime/pprof/label, Go 1.26);
// TestComponentLabel checks it.
//
//go:linkname getProfLabel runtime/pprof.runtime_getProfLabel
func getProfLabel() unsafe.Pointer

type profLabel struct{ key, value string }
type profLabelSet struct{ list []profLabel }

// currentComponent is the calling goroutine's testnet.ComponentLabel.
func currentComponent() string {
	p := (*profLabelSet)(getProfLabel())
	if p == nil {
		return ""
	}
	for _, l := range p.list {
		if l.key == testnet.ComponentLabel {
			return l.value
		}
	}
	return ""
}
