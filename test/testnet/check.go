package testnet

import "testing"

// CheckTwoFriends fails tb unless a run of the process-mode test scenario
// (test/testnet/procs/testdata and its worker copy: two friends meet
// 49 m apart, items to an online and a returning friend) came out whole:
// the meeting seen by both, no false detection, every item delivered, and
// the relays' metrics read, memory included. where names the set-up in
// messages.
func CheckTwoFriends(tb testing.TB, sum *Summary, where string) {
	tb.Helper()
	tb.Logf("meetings %+v", sum.Meetings.ByDistance[0])
	tb.Logf("delivery %+v", sum.Delivery)
	if r := sum.Meetings.ByDistance[0]; r.Meetings != 1 || r.DetectedBoth != 1 {
		tb.Errorf("%s: the 49 m meeting was not detected by both: %+v", where, r)
	}
	if sum.Meetings.False != 0 {
		tb.Errorf("%s: %d false detections", where, sum.Meetings.False)
	}
	d := sum.Delivery
	if d.Items == 0 || d.Delivered != d.Recipients || d.ShareErrors != 0 || d.Lost != 0 {
		tb.Errorf("%s: not every item arrived: %+v", where, d)
	}
	if st := sum.Relay; st.PeakRendezvousEntries == 0 || st.PeakMemoryBytes == 0 {
		tb.Errorf("%s: relay metrics not read: %+v", where, st)
	}
}
