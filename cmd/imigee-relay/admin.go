package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Admin server limits. The admin port is for a local scraper and health
// checker, so small bounds are plenty and keep a misbehaving client cheap.
const (
	// adminReadHeaderTimeout bounds a slow client's headers (5 s).
	adminReadHeaderTimeout = 5 * time.Second
	// adminWriteTimeout bounds one response, including a /metrics scrape
	// (30 s).
	adminWriteTimeout = 30 * time.Second
	// adminIdleTimeout closes idle keep-alive connections (60 s).
	adminIdleTimeout = 60 * time.Second
	// adminMaxHeaderBytes caps request headers (16 KiB).
	adminMaxHeaderBytes = 16 << 10
	// adminMaxInflightScrapes caps concurrent /metrics scrapes (4).
	adminMaxInflightScrapes = 4
)

// errAdminNotLoopback is returned when the admin address is not a loopback
// address and the operator did not opt in with -admin-allow-remote.
var errAdminNotLoopback = errors.New("admin address is not loopback")

// checkAdminAddr refuses an admin address that would be reachable from
// other machines unless allowRemote is set. Metrics are aggregate, but the
// admin port is still not meant for the internet (no auth, no TLS).
func checkAdminAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("admin address %q: %w", addr, err)
	}
	if allowRemote {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("admin address %q: %w (use 127.0.0.1:PORT or [::1]:PORT, "+
			"or pass -admin-allow-remote if a firewall or container network protects it)",
			addr, errAdminNotLoopback)
	}
	return nil
}

// adminRoute is one more admin endpoint (the analytics report).
type adminRoute struct {
	pattern string
	h       http.Handler
}

// adminServer serves /metrics, /healthz, /readyz and any extra routes.
type adminServer struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
	// done is closed when Serve has returned.
	done chan struct{}
}

// startAdmin binds addr and serves the admin endpoints until shutdown. ready
// reports whether the relay accepts work (for /readyz).
func startAdmin(addr string, allowRemote bool, gatherer prometheus.Gatherer,
	ready func() bool, log *slog.Logger, extra ...adminRoute) (*adminServer, error) {
	if err := checkAdminAddr(addr, allowRemote); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: adminMaxInflightScrapes,
		Timeout:             adminWriteTimeout - time.Second,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ready == nil || !ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready\n")
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	for _, e := range extra {
		mux.Handle(e.pattern, e.h)
	}
	a := &adminServer{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: adminReadHeaderTimeout,
			WriteTimeout:      adminWriteTimeout,
			IdleTimeout:       adminIdleTimeout,
			MaxHeaderBytes:    adminMaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
		ln:   ln,
		log:  log,
		done: make(chan struct{}),
	}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server stopped", "err", err)
		}
	}()
	return a, nil
}

// Addr is the bound address (useful with port 0).
func (a *adminServer) Addr() string { return a.ln.Addr().String() }

// Shutdown stops the admin server and waits for its goroutine.
func (a *adminServer) Shutdown(ctx context.Context) error {
	err := a.srv.Shutdown(ctx)
	if err != nil {
		_ = a.srv.Close()
	}
	<-a.done
	return err
}

// healthcheck GETs http://addr/path and returns nil on 200 OK. Used by the
// healthcheck subcommand (Docker HEALTHCHECK has no curl in a distroless
// image).
func healthcheck(ctx context.Context, addr, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	return nil
}
