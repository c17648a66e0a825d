package worker

import (
	"encoding/json"
	"testing"

	"github.com/imigee/imigee/test/testnet"
	"github.com/imigee/imigee/test/testnet/procs"
)

// seedRequests are valid requests, one per op: the fuzz seeds.
func seedRequests() map[string]*Request {
	run := "0123456789abcdef0123456789abcdef"
	addr := "/ip4/10.0.0.2/udp/4001/quic-v1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
	return map[string]*Request{
		OpHello:       {},
		OpOpen:        {},
		OpClose:       {Run: run},
		OpRelayCreate: {Run: run, I: 1},
		OpRelayStart:  {Run: run, I: 1, Relay: &procs.RelaySpec{EpochSeconds: 60, Peers: []string{addr}}},
		OpRelayStats:  {Run: run, I: 1},
		OpNodeCreate:  {Run: run, I: 7, Node: &procs.NodeSpec{EpochSeconds: 600, Relays: []string{addr}}},
		OpNodeControl: {Run: run, I: 7, Command: &procs.Command{Cmd: procs.CmdLocate, Lat: 52.52, Lng: 13.4, Accuracy: 10}},
		OpNodeShare:   {Run: run, I: 7, Size: 5000, To: []string{"friend"}},
	}
}

// FuzzDecode: requests (server side), answers and event lines (client
// side) decode or fail with an error, never panic; what decodes stays
// within the limits and encodes again.
func FuzzDecode(f *testing.F) {
	for op, r := range seedRequests() {
		b, _ := json.Marshal(r)
		f.Add(uint8(0), op, b)
	}
	for _, v := range []any{HelloResult{Version, 2}, OpenResult{"0123456789abcdef0123456789abcdef"}, CloseResult{3},
		AddrsResult{[]string{"/ip4/1.2.3.4/tcp/1/p2p/x"}}, IDResult{"abc"}, testnet.RelayStats{StoredBytes: 9},
		ControlResult{json.RawMessage(`{"invite":"x"}`)}, errorBody{"worker: no such run"}} {
		b, _ := json.Marshal(v)
		f.Add(uint8(1), "", b)
	}
	f.Add(uint8(2), "", []byte(`{"node":3,"event":"message","friend":"f","item":"i","total":12,"via":"direct"}`))
	f.Add(uint8(2), "", []byte("\n"))
	f.Fuzz(func(t *testing.T, kind uint8, op string, data []byte) {
		switch kind % 3 {
		case 0:
			r, err := DecodeRequest(op, data)
			if err != nil {
				return
			}
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeRequest(op, b); err != nil {
				t.Fatalf("re-encoded request does not decode: %v", err)
			}
		case 1:
			status := 200 // op picks an error status
			if len(op) > 0 {
				status = 400 + int(op[0])%200
			}
			for _, out := range []any{&HelloResult{}, &OpenResult{}, &CloseResult{}, &AddrsResult{}, &IDResult{}, &testnet.RelayStats{}, &ControlResult{}} {
				_ = DecodeResponse(status, data, out)
			}
		case 2:
			e, err := DecodeEvent(data)
			if err == nil && e != nil && (e.Node < 0 || len(e.Err) > MaxErrorLen) {
				t.Fatalf("event out of range decoded: %+v", e)
			}
		}
	})
}

// TestSeedRequestsValid keeps the fuzz seeds valid.
func TestSeedRequestsValid(t *testing.T) {
	for op, r := range seedRequests() {
		b, _ := json.Marshal(r)
		if _, err := DecodeRequest(op, b); err != nil {
			t.Errorf("%s: %v", op, err)
		}
	}
}
