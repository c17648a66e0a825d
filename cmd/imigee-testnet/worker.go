package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/imigee/imigee/test/testnet/procs"
	"github.com/imigee/imigee/test/testnet/procs/worker"
)

// maxTokenFile caps a token file: 4 KiB.
const maxTokenFile = 4 << 10

// workerShutdownTimeout bounds draining requests at SIGTERM: 30 s (the
// run's processes are stopped after that in any case).
const workerShutdownTimeout = 30 * time.Second

// readToken reads a shared-secret file: its first line, trimmed.
func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("token file %s larger than %d bytes", path, maxTokenFile)
	}
	tok, _, _ := strings.Cut(string(b), "\n")
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return tok, nil
}

func cmdWorker(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "`host:port` the controller connects to (required; port 0 picks one)")
	tokenFile := fs.String("token-file", "", "`file` with the shared secret (required unless --listen is loopback)")
	advertise := fs.String("advertise", "", "`host` or IP other machines reach this one at, put in relay addresses (default 127.0.0.1)")
	dir := fs.String("dir", "", "data `directory` of the runs (default a new temporary directory)")
	capacity := fs.Int("capacity", 0, "relative share of the nodes this worker gets (default its CPU count)")
	imigeeBin := fs.String("imigee", "", "the imigee `binary` (default from PATH)")
	relayBin := fs.String("imigee-relay", "", "the imigee-relay `binary` (default from PATH)")
	verbose := fs.Bool("v", false, "debug logs, and the processes' logs, on stderr")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 || *listen == "" {
		fmt.Fprintln(stderr, "imigee-testnet worker: --listen is required and takes no arguments")
		return exitUsage
	}
	token, err := readToken(*tokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet worker: %v\n", err)
		return exitUsage
	}
	if token == "" && !loopbackHost(*listen) {
		fmt.Fprintf(stderr, "imigee-testnet worker: %v (--token-file)\n", worker.ErrNoToken)
		return exitUsage
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if _, err := procs.ResolveAdvertise(*advertise); err != nil {
		fmt.Fprintf(stderr, "imigee-testnet worker: %v\n", err)
		return exitUsage
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "imigee-testnet-worker-")
		if err != nil {
			fmt.Fprintf(stderr, "imigee-testnet worker: %v\n", err)
			return exitFail
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	hc := procs.HostConfig{Imigee: *imigeeBin, Relay: *relayBin, Dir: *dir, Advertise: *advertise}
	if *verbose {
		hc.Stderr = stderr
	}
	srv, err := worker.NewServer(worker.Config{Token: token, Host: hc, Capacity: *capacity, Log: log})
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet worker: %v\n", err)
		return exitUsage
	}
	// Check the binaries now rather than at the first run.
	if _, err := procs.NewHost(procs.HostConfig{Imigee: *imigeeBin, Relay: *relayBin, Dir: *dir, Advertise: *advertise}); err != nil {
		fmt.Fprintf(stderr, "imigee-testnet worker: %v\n", err)
		return exitFail
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet worker: %v\n", err)
		return exitFail
	}
	if a, ok := ln.Addr().(*net.TCPAddr); token == "" && (!ok || !a.IP.IsLoopback()) {
		ln.Close()
		fmt.Fprintf(stderr, "imigee-testnet worker: %v (--token-file)\n", worker.ErrNoToken)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// The address line is what scripts and tests wait for (port 0).
	fmt.Fprintf(stdout, "imigee-testnet worker: listening on %s\n", ln.Addr())
	select {
	case err := <-served:
		fmt.Fprintf(stderr, "imigee-testnet worker: %v\n", err)
		return exitFail
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), workerShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet worker: shutdown: %v\n", err)
		return exitFail
	}
	return exitOK
}

// waitWorkers says hello to every worker, retrying refused connections
// for up to wait: in a compose file the controller may start before the
// workers listen. A wrong token or protocol version fails at once.
func waitWorkers(ctx context.Context, ws []procs.Worker, wait time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(wait)
	for _, w := range ws {
		c := w.(*worker.Client)
		for {
			_, err := c.Hello(ctx)
			if err == nil {
				break
			}
			if errors.Is(err, worker.ErrUnauthorized) || errors.Is(err, worker.ErrVersion) || time.Now().After(deadline) {
				return err
			}
			log.Debug("waiting for worker", "worker", c.Addr, "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return nil
}

// loopbackHost reports whether host:port names a loopback address.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// workers turns --workers into clients.
func workers(list, tokenFile string, log *slog.Logger) ([]procs.Worker, error) {
	if list == "" {
		return nil, nil
	}
	token, err := readToken(tokenFile)
	if err != nil {
		return nil, err
	}
	var ws []procs.Worker
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("--workers: %q: %w", a, err)
		}
		ws = append(ws, &worker.Client{Addr: a, Token: token, Log: log})
	}
	return ws, nil
}
