package store

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/crypto"
)

// Acks in random order leave tombstones in the in-memory index; List,
// Count, Check and a reopen (which rebuilds the index from the file) all
// agree on what is left.
func TestIndexRandomAcks(t *testing.T) {
	cfg, _ := testConfig(t)
	s := openTest(t, cfg)
	m, other := randMailbox(), randMailbox()
	var refs []Ref
	for range 200 {
		refs = append(refs, Ref{m, mustPut(t, s, m, randData(100))})
		mustPut(t, s, other, randData(10))
	}
	r := rand.New(rand.NewPCG(3, 4))
	r.Shuffle(len(refs), func(i, j int) { refs[i], refs[j] = refs[j], refs[i] })
	for i := 0; i < 150; i += 10 {
		if n, err := s.Ack(refs[i : i+10]); err != nil || n != 10 {
			t.Fatalf("Ack = %d, %v", n, err)
		}
		mustCheck(t, s)
	}
	left := make(map[BlobID]bool)
	for _, ref := range refs[150:] {
		left[ref.ID] = true
	}
	check := func(s *Store) {
		t.Helper()
		blobs, more, err := s.List([]crypto.MailboxID{m}, BlobID{}, 1000, 0, true)
		if err != nil || more || len(blobs) != len(left) {
			t.Fatalf("List = %d blobs, more %v, %v; want %d", len(blobs), more, err, len(left))
		}
		for i, b := range blobs {
			if !left[b.ID] || len(b.Data) != 100 || (i > 0 && string(blobs[i-1].ID[:]) >= string(b.ID[:])) {
				t.Fatalf("blob %d: %v (listed %v, %d bytes)", i, b.ID, left[b.ID], len(b.Data))
			}
		}
		if n, _ := s.Count([]crypto.MailboxID{m}); n != len(left) {
			t.Fatalf("Count = %d, want %d", n, len(left))
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, cfg)
	check(s)
	if st := s.Stats(); st.Blobs != int64(len(left))+200 || st.Mailboxes != 2 {
		t.Fatalf("stats after reopen %+v", st)
	}
}

// A format-1 file (mailbox index and counters on disk) is migrated at Open.
func TestMigrateV1(t *testing.T) {
	cfg, clk := testConfig(t)
	m := randMailbox()
	id := newBlobID(clk.Now())
	data := randData(1500) // two chunks
	exp := clk.Now().Add(MaxRetention).UnixNano()
	db, err := bolt.Open(cfg.Path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := map[string]*bolt.Bucket{}
		for _, name := range []string{"blobs", "data", "expiry", "mailboxes", "meta"} {
			var err error
			if b[name], err = tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		bk := blobKeyV2(m, id)
		v := make([]byte, 12)
		binary.BigEndian.PutUint64(v, uint64(exp))
		binary.BigEndian.PutUint32(v[8:], uint32(len(data)))
		counter := make([]byte, 16)
		binary.BigEndian.PutUint64(counter, 1)
		binary.BigEndian.PutUint64(counter[8:], uint64(len(data)))
		for _, kv := range []struct {
			b    string
			k, v []byte
		}{
			{"blobs", bk, v},
			{"expiry", expiryKeyV2(exp, bk), nil},
			{"data", dataKey(id[:], 0), data[:dataChunk]},
			{"data", dataKey(id[:], 1), data[dataChunk:]},
			{"mailboxes", m[:], counter},
			{"meta", metaVersion, u64(1)},
			{"meta", metaTotalsV1, counter},
			{"meta", metaRetention, u64(uint64(MaxRetention))},
		} {
			if err := b[kv.b].Put(kv.k, kv.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, cfg)
	got, ok, err := s.Get(m, id)
	if err != nil || !ok || string(got.Data) != string(data) || got.Expires.UnixNano() != exp {
		t.Fatalf("Get after migration = %v %v", ok, err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketBlobsV1) != nil || tx.Bucket(bucketMailboxesV1) != nil ||
			decodeU64(tx.Bucket(bucketMeta).Get(metaVersion)) != formatVersion {
			t.Error("format-1 buckets or version left")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
