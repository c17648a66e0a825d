// Command linkcheck is a main importing node/mobile, linked for
// android/arm64 by `make mobile-check` to prove the facade links there
// with the flags docs/mobile.md gives (-ldflags=-checklinkname=0). It is
// never shipped.
package main

import _ "github.com/imigee/imigee/node/mobile"

func main() {}
