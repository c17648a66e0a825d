//go:build pin

// Package pin keeps the module's chosen dependencies in go.mod while the code
// that uses them is written; `go mod tidy` honours files behind build tags.
package pin

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/golang/geo/s2"
	_ "github.com/libp2p/go-libp2p"
	_ "github.com/libp2p/go-libp2p-pubsub"
	_ "github.com/multiformats/go-multiaddr"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/quic-go/quic-go"
	_ "github.com/quic-go/webtransport-go"
	_ "go.etcd.io/bbolt"
	_ "go.uber.org/goleak"
	_ "golang.org/x/crypto/nacl/box"
	_ "google.golang.org/protobuf/proto"
)
