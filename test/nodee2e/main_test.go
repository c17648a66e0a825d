package nodee2e

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/imigee/imigee/test/internal/e2e"
)

// The binaries under test, built once by TestMain (CGO off, no -race, like
// "make build").
var (
	imigeeBin string
	relayBin  string
	demoBin   string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nodee2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, b := range []struct {
		dst *string
		pkg string
	}{
		{&imigeeBin, "github.com/imigee/imigee/cmd/imigee"},
		{&relayBin, "github.com/imigee/imigee/cmd/imigee-relay"},
		{&demoBin, "github.com/imigee/imigee/cmd/imigee-demo"},
	} {
		if *b.dst, err = e2e.Build(dir, b.pkg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// Every Proc's reader goroutines end with its process.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
