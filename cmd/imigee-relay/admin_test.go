package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestAdminEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(buildInfoCollector())
	var ready atomic.Bool
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := startAdmin("127.0.0.1:0", false, reg, ready.Load, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	}()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + a.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	if code, _ := get("/readyz"); code != 503 {
		t.Fatalf("/readyz before ready = %d, want 503", code)
	}
	ready.Store(true)
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz when ready = %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "imigee_relay_build_info") {
		t.Fatalf("/metrics = %d, body lacks build info", code)
	}
	if code, _ := get("/nope"); code != 404 {
		t.Fatalf("/nope = %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := healthcheck(ctx, a.Addr(), "/readyz"); err != nil {
		t.Fatalf("healthcheck: %v", err)
	}
	if _, err := startAdmin("0.0.0.0:0", false, reg, ready.Load, log); !errors.Is(err, errAdminNotLoopback) {
		t.Fatalf("startAdmin(0.0.0.0) = %v; want errAdminNotLoopback", err)
	}
}
