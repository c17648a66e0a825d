package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// migrateV1 converts a format-1 file in place, in the init transaction:
// each expiry entry gets the blob's size as its value (read from the old
// on-disk mailbox index), then the old index and counters are dropped.
// Their content is rebuilt in memory at every Open now. It is one
// transaction, so a crash leaves the file either format 1 or format 2.
func migrateV1(tx *bolt.Tx) error {
	blobs, expiry, meta := tx.Bucket(bucketBlobsV1), tx.Bucket(bucketExpiry), tx.Bucket(bucketMeta)
	expiry.FillPercent = expiryFillPercent
	if blobs == nil || expiry == nil {
		return errors.New("format 1 file without its buckets")
	}
	type fix struct{ k, v []byte }
	var fixes []fix
	err := expiry.ForEach(func(k, _ []byte) error {
		var v []byte
		if len(k) == expiryKeyLenV2 {
			// A format-1 blobs value is expires(8) ‖ size(4).
			if bv := blobs.Get(k[8:]); len(bv) == 12 && bytes.Equal(bv[:8], k[:8]) {
				v = expiryValueV2(int(binary.BigEndian.Uint32(bv[8:])))
			}
		}
		fixes = append(fixes, fix{bytes.Clone(k), v}) // nil: orphan, dropped
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range fixes {
		if f.v == nil {
			err = expiry.Delete(f.k)
		} else {
			err = expiry.Put(f.k, f.v)
		}
		if err != nil {
			return err
		}
	}
	for _, name := range [][]byte{bucketBlobsV1, bucketMailboxesV1} {
		if tx.Bucket(name) != nil {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
	}
	if err := meta.Delete(metaTotalsV1); err != nil {
		return err
	}
	return meta.Put(metaVersion, u64(2))
}

// migrateV2 converts a format-2 file in place, in the init transaction:
// every blob's data is sealed under the day key of its receive day, its
// expiry key loses the mailbox ID, and the mailbox and size move, sealed,
// into the value (atrest.go). One transaction, so a crash leaves the file
// either format 2 or format 3. The format-2 pages are freed, not erased:
// until bbolt reuses them they still hold the old plaintext entries (run
// `imigee-relay compact` after the upgrade to drop them).
func migrateV2(tx *bolt.Tx, keys *keyring) error {
	expiry, data, meta := tx.Bucket(bucketExpiry), tx.Bucket(bucketData), tx.Bucket(bucketMeta)
	expiry.FillPercent = expiryFillPercent
	data.FillPercent = dataFillPercent
	type old struct {
		k    []byte
		size int
	}
	var olds []old
	err := expiry.ForEach(func(k, v []byte) error {
		if len(k) != expiryKeyLenV2 || len(v) != expiryValueLenV2 {
			return fmt.Errorf("malformed format-2 expiry entry (key %d B, value %d B)", len(k), len(v))
		}
		olds = append(olds, old{bytes.Clone(k), int(binary.BigEndian.Uint32(v))})
		return nil
	})
	if err != nil {
		return err
	}
	for _, o := range olds {
		exp := int64(binary.BigEndian.Uint64(o.k))
		m, id := splitBlobKeyV2(o.k[8:])
		plain := make([]byte, 0, o.size)
		for i := range chunks(o.size) {
			plain = append(plain, data.Get(dataKey(id[:], i))...)
		}
		if len(plain) != o.size {
			return fmt.Errorf("format-2 blob %v: %d of %d data bytes", id, len(plain), o.size)
		}
		for i := range chunks(o.size) {
			if err := data.Delete(dataKey(id[:], i)); err != nil {
				return err
			}
		}
		received := id.Received()
		sealed, err := keys.seal(received, adData, plain)
		if err != nil {
			return err
		}
		for i := range chunks(len(sealed)) {
			if err := data.Put(dataKey(id[:], i), sealed[i*dataChunk:min(len(sealed), (i+1)*dataChunk)]); err != nil {
				return err
			}
		}
		mv, err := keys.sealMeta(received, m, o.size)
		if err != nil {
			return err
		}
		if err := expiry.Delete(o.k); err != nil {
			return err
		}
		if err := expiry.Put(expiryKey(exp, id), mv); err != nil {
			return err
		}
	}
	return meta.Put(metaVersion, u64(formatVersion))
}
