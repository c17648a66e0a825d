package protocol

import (
	"io"
	"net/url"
	"strconv"

	"github.com/imigee/imigee/protocol/pb"
)

// PushProtocol carries one PushChallenge, PushRegister and PushResult
// between a node and a relay (pb/push.proto).
const PushProtocol = "/imigee/push/1"

// Push limits.
const (
	// MaxPushEndpointLen caps a push endpoint URL: 1024 bytes (UnifiedPush
	// and WebPush endpoints are a few hundred).
	MaxPushEndpointLen = 1024
	// MaxPushRegister caps a PushRegister frame: MaxAuthsPerRequest auths
	// of ~120 bytes plus the endpoint, 160 KiB.
	MaxPushRegister = 160 << 10
	// MaxPushSmall caps PushChallenge and PushResult frames: 1 KiB.
	MaxPushSmall = 1 << 10
)

// ValidatePushRegister checks auth count, lengths and distinctness, and
// that the endpoint is empty or an absolute http(s) URL with a host, no
// user info and no fragment, at most MaxPushEndpointLen bytes. Whether the
// relay may POST to that host is the relay's allow-list's decision.
func ValidatePushRegister(m *pb.PushRegister) error {
	var set idSet
	if err := validateAuths("auth", m.Auth, &set); err != nil {
		return err
	}
	if m.Endpoint == "" {
		return nil
	}
	if len(m.Endpoint) > MaxPushEndpointLen {
		return errf(tooLarge, "endpoint: ", strconv.Itoa(len(m.Endpoint)), " bytes exceed ", strconv.Itoa(MaxPushEndpointLen))
	}
	if _, err := ParsePushEndpoint(m.Endpoint); err != nil {
		return err
	}
	return nil
}

// ParsePushEndpoint parses an endpoint as ValidatePushRegister accepts it.
func ParsePushEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, errf(badRequest, "endpoint: not an absolute http(s) URL")
	}
	return u, nil
}

// ValidatePushChallenge checks the nonce length.
func ValidatePushChallenge(m *pb.PushChallenge) error {
	return exact("nonce", m.Nonce, ChallengeSize)
}

// ReadPushRegister reads one frame of at most MaxPushRegister bytes into m
// and validates it.
func ReadPushRegister(r io.Reader, m *pb.PushRegister) error {
	if err := ReadMsg(r, m, MaxPushRegister); err != nil {
		return err
	}
	return ValidatePushRegister(m)
}

// ReadPushChallenge reads and validates a PushChallenge.
func ReadPushChallenge(r io.Reader, m *pb.PushChallenge) error {
	if err := ReadMsg(r, m, MaxPushSmall); err != nil {
		return err
	}
	return ValidatePushChallenge(m)
}

// ReadPushResult reads a PushResult and validates its error, if any.
func ReadPushResult(r io.Reader, m *pb.PushResult) error {
	if err := ReadMsg(r, m, MaxPushSmall); err != nil {
		return err
	}
	if m.Error != nil {
		return ValidateError(m.Error)
	}
	return nil
}
