package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

func cmdHealthcheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("healthcheck", "healthcheck [-admin HOST:PORT | -config FILE] [-ready]", `
Ask a running relay whether it is alive: GET /healthz on its admin address
(with -ready: GET /readyz, which also requires the relay to be accepting
work). Exits 0 if it answers 200 OK, 1 otherwise. Meant for Docker
HEALTHCHECK and scripts; it needs no curl in the image.`, stderr)
	admin := fs.String("admin", defaultAdminAddr, "admin `host:port` of the relay to check")
	cfgPath := fs.String("config", "", "read the admin address from this config `file` (ignored if -admin is given)")
	ready := fs.Bool("ready", false, "check /readyz instead of /healthz")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this `duration`")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	addr := *admin
	if *cfgPath != "" && !flagWasSet(fs, "admin") {
		c, err := loadConfigFile(*cfgPath)
		if err != nil {
			return fail(stderr, "healthcheck", err)
		}
		if c.Admin.Addr == "" {
			return fail(stderr, "healthcheck", fmt.Errorf("config %s disables the admin server", *cfgPath))
		}
		addr = c.Admin.Addr
	}
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := healthcheck(ctx, addr, path); err != nil {
		return fail(stderr, "healthcheck", err)
	}
	fmt.Fprintln(stdout, "ok")
	return exitOK
}
