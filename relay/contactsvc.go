package relay

// Glue between the relay and relay/contacts (contact matching,
// /imigee/contacts/1): config, the stream handler, the sweep and metrics.
// The service itself lives in relay/contacts.

import (
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/relay/contacts"
)

// ContactsFile is the name of the pending contact entries database inside
// Config.DataDir.
const ContactsFile = "contacts.db"

// ContactsConfig configures contact matching. Zero values take the
// relay/contacts defaults.
type ContactsConfig struct {
	// Key is this relay's OPRF key for its stage of the network's chain,
	// loaded by the daemon from KeyFile. nil = this relay evaluates no
	// stage (it may still keep entries).
	Key *crypto.ContactKey `toml:"-"`
	// KeyFile is where the daemon keeps Key's 32-byte seed (mode 0600; made at
	// the first start). Empty = no key. Publish the public key
	// (`imigee-relay contacts-key`) with its stage in the network's
	// configuration; phones verify every evaluation against it.
	KeyFile string `toml:"key_file"`
	// DisableEntries stops this relay keeping pending entries (it then only
	// evaluates). Default false: it keeps them.
	DisableEntries bool `toml:"disable_entries"`
	// Difficulty is the proof of work per evaluation batch and per post,
	// in leading zero bits. Default 20.
	Difficulty int `toml:"difficulty"`
	// EvalsPerConnDay and EvalsPerPrefixDay cap OPRF evaluations per
	// connection and per address prefix (IPv4 /24, IPv6 /48) per day.
	// Defaults 8192 and 16384.
	EvalsPerConnDay   int `toml:"evals_per_conn_day"`
	EvalsPerPrefixDay int `toml:"evals_per_prefix_day"`
	// PostsPerPrefixDay caps new entries per address prefix per day.
	// Default 4096.
	PostsPerPrefixDay int `toml:"posts_per_prefix_day"`
	// MaxEntries caps the entries kept. Default 1,000,000 (≈ 2.5 GB of disk: 2,545 bytes per entry measured).
	MaxEntries int `toml:"max_entries"`
	// Retention is how long an entry lives after it was first posted.
	// Default and maximum 30 days (P5).
	Retention Duration `toml:"retention"`
}

func (r *Relay) openContacts() error {
	c := r.cfg.Contacts
	svc, err := contacts.New(contacts.Config{
		Key:               c.Key,
		StoreEntries:      !c.DisableEntries,
		Difficulty:        c.Difficulty,
		EvalsPerConnDay:   c.EvalsPerConnDay,
		EvalsPerPrefixDay: c.EvalsPerPrefixDay,
		PostsPerPrefixDay: c.PostsPerPrefixDay,
		MaxEntries:        c.MaxEntries,
		Retention:         c.Retention.D(),
		IdleTimeout:       r.cfg.Limits.IdleTimeout.D(),
		ReadTimeout:       r.cfg.Limits.ReadTimeout.D(),
		WriteTimeout:      r.cfg.Limits.WriteTimeout.D(),
		Now:               r.cfg.Now,
		NoSync:            r.cfg.NoSync,
	}, filepath.Join(r.cfg.DataDir, ContactsFile))
	if err != nil {
		return fmt.Errorf("relay: contacts: %w", err)
	}
	r.contacts = svc
	reg := r.m.reg
	stat := func(name, help string, f func(contacts.Stats) float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "imigee", Subsystem: "relay", Name: "contacts_" + name, Help: help},
			func() float64 { return f(svc.Stats()) }))
	}
	stat("evaluations_total", "OPRF elements evaluated for contact matching.", func(s contacts.Stats) float64 { return float64(s.Evaluations) })
	stat("posts_total", "Contact entries posted.", func(s contacts.Stats) float64 { return float64(s.Posts) })
	stat("matches_total", "Contact entry matches returned.", func(s contacts.Stats) float64 { return float64(s.Matches) })
	stat("refused_total", "Contact requests refused for rate or a wrong proof of work.", func(s contacts.Stats) float64 { return float64(s.RateLimited + s.BadProof) })
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "imigee", Subsystem: "relay", Name: "contacts_entries", Help: "Pending contact entries held."},
		func() float64 { return float64(svc.Stats().Entries) }))
	return nil
}

// ContactsPublicKey is this relay's contact OPRF public key (nil if none).
func (r *Relay) ContactsPublicKey() []byte { return r.contacts.PublicKey() }

func (r *Relay) serveContacts(s serviceStream, cs *connState) {
	remote := contacts.Remote{Conn: fmt.Sprintf("%p", cs), Prefix: "?"}
	if ns, ok := s.(network.Stream); ok {
		remote.Conn, remote.Prefix = ns.Conn().ID(), addrPrefix(ns.Conn())
	}
	// The relay's limits apply as on its own services: frame buffers and
	// responses reserved with the memory budget on this connection's and
	// source's shares, each frame charged to the connection's rate limiter
	// before it is decoded. The day budgets stay keyed by connection and
	// /24 or /48 prefix (docs/relay.md "Contact matching").
	r.contacts.ServeLimited(s, remote, contacts.Limits{
		Account: memAccount{r.mem, cs},
		Allow: func(n int) bool {
			if cs.allow(time.Now(), n) {
				return true
			}
			r.m.drop(dropRateLimit)
			return false
		},
	})
}

// addrPrefix names the remote address's /24 (IPv4) or /48 (IPv6): the unit
// the contact day budgets count, since one party owns a prefix more easily
// than many.
func addrPrefix(c network.Conn) string {
	ip, err := manet.ToIP(c.RemoteMultiaddr())
	if err != nil {
		return "?"
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.Mask(net.CIDRMask(24, 32)).String()
	}
	return ip.Mask(net.CIDRMask(48, 128)).String()
}

// SweepContacts deletes expired contact entries now (the background loop
// does it on its own; tests with an injected clock call it).
func (r *Relay) SweepContacts() (int, error) { return r.contacts.Sweep() }
