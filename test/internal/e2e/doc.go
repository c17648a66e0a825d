// Package e2e holds helpers for end-to-end tests that start real
// processes: building a command once per test binary, starting it with its
// output captured, waiting for readiness, signalling and killing it, free
// loopback ports, and searching files and a live process's memory for a
// byte string (the P1 leak checks).
//
// Concurrency: a Proc's output is collected by goroutines it owns; they end
// when the process exits and its pipes close, and Wait/Kill wait for them,
// so a test that calls Cleanup (registered by Start) leaks nothing.
//
// Caveats: SearchProcessMemory reads /proc/PID/mem and therefore needs
// Linux and ptrace permission over the child (same user, or root); tests
// that use it should call RequireProcMem to skip elsewhere.
package e2e
