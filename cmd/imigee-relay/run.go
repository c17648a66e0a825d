package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/imigee/imigee/relay"
)

// runFlags are the flags of run (and, partly, compact) that override the
// config file.
type runFlags struct {
	config           *string
	dataDir          *string
	admin            *string
	adminAllowRemote *bool
	logFormat        *string
	logLevel         *string
	retention        *time.Duration
	historyWindow    *time.Duration
	epoch            *int
	shutdownTimeout  *time.Duration
	listen           stringList
	peers            stringList

	// loaded is the config file resolve read ("" = built-in defaults).
	loaded string
}

func addRunFlags(fs *flag.FlagSet) *runFlags {
	d := defaultFileConfig()
	f := &runFlags{}
	f.config = fs.String("config", "", "config `file` (TOML, see \"imigee-relay init\"); default DATA-DIR/"+defaultConfigName+" if it exists, else built-in defaults")
	f.dataDir = fs.String("data-dir", "", "`directory` for the database, identity key and relay.addrs (default "+d.DataDir+")")
	f.admin = fs.String("admin", "", "admin HTTP `host:port` for /metrics, /healthz, /readyz; \"off\" disables it (default "+defaultAdminAddr+")")
	f.adminAllowRemote = fs.Bool("admin-allow-remote", false, "allow a non-loopback -admin address (no auth: use only behind a firewall)")
	f.logFormat = fs.String("log-format", "", "log `format`: text or json (default text)")
	f.logLevel = fs.String("log-level", "", "log `level`: debug, info, warn or error (default info)")
	f.retention = fs.Duration("retention", 0, "delete unacknowledged blobs after this `duration`; may only lower the 30-day maximum (720h)")
	f.historyWindow = fs.Duration("history-window", 0, "keep past rendezvous announcements for late meetings this `duration` (default 72h, at most 720h; 0 turns history off)")
	f.epoch = fs.Int("epoch", 0, "rendezvous epoch length in `seconds` that phones use, the only one accepted (60 to 86400; default 600)")
	f.shutdownTimeout = fs.Duration("shutdown-timeout", 0, "on SIGTERM, wait at most this `duration` for in-flight puts (default 30s)")
	fs.Var(&f.listen, "listen", "libp2p listen `multiaddr`; repeat for several (replaces the config's list)")
	fs.Var(&f.peers, "peer", "`multiaddr` (with /p2p/ID) of another relay of this network to gossip rendezvous with; repeatable")
	return f
}

// resolve builds the effective config: defaults, then the file, then the
// flags that were given explicitly.
func (f *runFlags) resolve(fs *flag.FlagSet) (fileConfig, error) {
	c := defaultFileConfig()
	path := *f.config
	if path == "" {
		// What init wrote, if it is there: "init" then "run" just works.
		dir := c.DataDir
		if flagWasSet(fs, "data-dir") {
			dir = *f.dataDir
		}
		if cand := filepath.Join(dir, defaultConfigName); fileExists(cand) {
			path = cand
		}
	}
	if path != "" {
		var err error
		if c, err = loadConfigFile(path); err != nil {
			return c, err
		}
		f.loaded = path
	}
	if flagWasSet(fs, "data-dir") {
		c.DataDir = *f.dataDir
	}
	if flagWasSet(fs, "admin") {
		c.Admin.Addr = *f.admin
		if c.Admin.Addr == "off" {
			c.Admin.Addr = ""
		}
	}
	if flagWasSet(fs, "admin-allow-remote") {
		c.Admin.AllowRemote = *f.adminAllowRemote
	}
	if flagWasSet(fs, "log-format") {
		c.Log.Format = *f.logFormat
	}
	if flagWasSet(fs, "log-level") {
		c.Log.Level = *f.logLevel
	}
	if flagWasSet(fs, "shutdown-timeout") {
		c.ShutdownTimeout = relay.Duration(*f.shutdownTimeout)
	}
	if flagWasSet(fs, "epoch") {
		c.Rendezvous.EpochSeconds = uint32(*f.epoch)
	}
	if flagWasSet(fs, "retention") {
		if *f.retention > maxRetention {
			return c, fmt.Errorf("-retention %v: %w", *f.retention, errRetentionTooLong)
		}
		if *f.retention <= 0 {
			return c, fmt.Errorf("-retention %v: must be positive", *f.retention)
		}
		c.Store.Retention = relay.Duration(*f.retention)
	}
	if flagWasSet(fs, "history-window") {
		if *f.historyWindow < 0 || *f.historyWindow > maxRetention {
			return c, fmt.Errorf("-history-window %v: must be within [0, 720h]", *f.historyWindow)
		}
		c.History.Window = relay.Duration(*f.historyWindow)
	}
	if len(f.listen) > 0 {
		c.ListenAddrs = []string(f.listen)
	}
	if len(f.peers) > 0 {
		c.Peers = []string(f.peers)
	}
	return c, c.validate()
}

// newLogger returns the process logger on w.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	l, err := parseLogLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "run [-config FILE] [flags]", `
Start the relay. Without -config it reads DATA-DIR/imigee-relay.toml if
"imigee-relay init" wrote one there, else it runs on built-in defaults; it
keeps its state (database, identity key) in the data directory and creates
the identity on first start. Flags override the config file.

On start it prints, one per line on stdout, "peer_id ID", one "listen
MULTIADDR/p2p/ID" per address and "admin HOST:PORT", and writes the same
lines to DATA-DIR/relay.addrs. SIGTERM or SIGINT stops accepting work,
finishes in-flight puts, closes the database and exits 0.`, stderr)
	rf := addRunFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	c, err := rf.resolve(fs)
	if err != nil {
		return fail(stderr, "run", err)
	}
	log, err := newLogger(stderr, c.Log.Format, c.Log.Level)
	if err != nil {
		return fail(stderr, "run", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if rf.loaded != "" {
		log.Info("using config file", "file", rf.loaded)
	} else {
		log.Info("no config file: using built-in defaults", "data_dir", c.DataDir)
	}
	if err := runRelay(ctx, stop, c, log, stdout); err != nil {
		log.Error("relay failed", "err", err)
		return exitFail
	}
	return exitOK
}

// runRelay starts the relay and the admin server, blocks until ctx is
// cancelled (a signal), then shuts both down gracefully. stopSignals
// restores default signal handling once shutdown begins, so a second
// Ctrl-C kills the process at once.
func runRelay(ctx context.Context, stopSignals func(), c fileConfig, log *slog.Logger, stdout io.Writer) error {
	if err := ensureDataDir(c.DataDir); err != nil {
		return err
	}
	key, created, err := loadOrCreateIdentity(c.identityPath())
	if err != nil {
		return err
	}
	if created {
		log.Info("created a new identity", "file", c.identityPath())
	}
	rc := c.Config
	rc.Identity = key
	if p := c.contactKeyPath(); p != "" {
		ck, created, err := loadOrCreateContactKey(p)
		if err != nil {
			return err
		}
		if created {
			log.Info("created a contact-matching key", "file", p)
		}
		rc.Contacts.Key = ck
	}
	if rc.Analytics.Role != "" {
		if err := loadAnalyticsKeys(&c, &rc.Analytics, log); err != nil {
			return err
		}
	}
	rc.Logger = log
	r, err := relay.New(rc)
	if err != nil {
		return err // already says "relay: …"
	}
	defer r.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(buildInfoCollector())
	gatherers := prometheus.Gatherers{r.MetricsRegistry(), reg}
	// The relay's registry already exports Go runtime and process
	// metrics; add ours only if it ever stops (duplicates break scrapes).
	if !hasMetric(r.MetricsRegistry(), "go_goroutines") {
		reg.MustRegister(collectors.NewGoCollector())
	}
	if !hasMetric(r.MetricsRegistry(), "process_cpu_seconds_total") {
		reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	var admin *adminServer
	if c.Admin.Addr != "" {
		admin, err = startAdmin(c.Admin.Addr, c.Admin.AllowRemote, gatherers, r.Ready, log,
			adminRoute{"GET /analytics", r.AnalyticsHandler()})
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = admin.Shutdown(sctx)
		}()
	}

	// ctx bounds only Start: a signal during start aborts it; afterwards
	// the relay runs until Shutdown.
	if err := r.Start(ctx); err != nil {
		return err
	}
	addrsPath := filepath.Join(c.DataDir, addrsFileName)
	announce := announceLines(r, admin)
	// File first: whoever reads stdout may look for the file next.
	if err := writeFileAtomic(addrsPath, []byte(announce), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", addrsPath, err)
	}
	if _, err := io.WriteString(stdout, announce); err != nil {
		return fmt.Errorf("write addresses: %w", err)
	}
	log.Info("daemon ready", "version", versionString(), "listen_addrs", len(r.Addrs()),
		"admin", c.Admin.Addr != "")

	<-ctx.Done()
	stopSignals()
	log.Info("shutting down", "timeout", c.ShutdownTimeout.D())
	_ = os.Remove(addrsPath)
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout.D())
	defer cancel()
	// A drain cut short by the timeout still closes everything, but exits
	// non-zero so the operator learns that requests were cut off.
	if err := r.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Shutdown already closed the database; Close releases the rest and
	// may report that it was closed, which is not a failure.
	if err := r.Close(); err != nil {
		log.Warn("relay close", "err", err)
	}
	log.Info("stopped cleanly")
	return nil
}

// announceLines is what run prints on start and writes to relay.addrs:
// "peer_id ID", one "listen ADDR/p2p/ID" per address, "admin HOST:PORT".
func announceLines(r *relay.Relay, admin *adminServer) string {
	var b strings.Builder
	id := r.ID()
	fmt.Fprintf(&b, "peer_id %s\n", id)
	for _, a := range r.Addrs() {
		fmt.Fprintf(&b, "listen %s/p2p/%s\n", a, id)
	}
	if admin != nil {
		fmt.Fprintf(&b, "admin %s\n", admin.Addr())
	}
	return b.String()
}

// buildInfoCollector exports imigee_relay_build_info{version,goversion} 1,
// so dashboards can tell versions apart during a rolling upgrade.
func buildInfoCollector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "imigee_relay_build_info",
		Help:        "Build information of the running imigee-relay (always 1).",
		ConstLabels: prometheus.Labels{"version": versionString()},
	})
	g.Set(1)
	return g
}

// hasMetric reports whether reg exports a metric family called name.
func hasMetric(reg *prometheus.Registry, name string) bool {
	mfs, err := reg.Gather()
	if err != nil {
		return false
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return true
		}
	}
	return false
}

// fileExists reports whether path exists (as anything).
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
