package node

import (
	"bytes"
	"os"
	"reflect"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// memScan gathers the bytes a value holds in memory: every string, byte
// slice and byte array reachable from it through pointers, interfaces,
// structs (unexported fields too), slices, arrays and maps (keys and
// values). A bbolt database is read through its file, which is what its
// memory map holds. Functions and channels are not followed.
type memScan struct {
	seen   map[visit]bool
	chunks [][]byte
	files  []string
}

type visit struct {
	p uintptr
	t reflect.Type
}

func scanMemory(roots ...any) *memScan {
	m := &memScan{seen: map[visit]bool{}}
	for _, r := range roots {
		m.walk(reflect.ValueOf(r), 0)
	}
	for _, f := range m.files {
		if b, err := os.ReadFile(f); err == nil {
			m.chunks = append(m.chunks, b)
		}
	}
	return m
}

// contains reports whether any gathered chunk holds needle.
func (m *memScan) contains(needle []byte) bool {
	for _, c := range m.chunks {
		if bytes.Contains(c, needle) {
			return true
		}
	}
	return false
}

func (m *memScan) size() int {
	n := 0
	for _, c := range m.chunks {
		n += len(c)
	}
	return n
}

var boltDB = reflect.TypeFor[bolt.DB]()

// readable returns v with the read-only flag of unexported fields dropped
// and, if it is not addressable, an addressable copy.
func readable(v reflect.Value) reflect.Value {
	if v.CanAddr() {
		return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
	}
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	return c
}

func (m *memScan) walk(v reflect.Value, depth int) {
	if !v.IsValid() || depth > 200 {
		return
	}
	switch v.Kind() {
	case reflect.String:
		m.chunks = append(m.chunks, []byte(v.String()))
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if v.Type().Elem() == boltDB {
			m.files = append(m.files, v.Interface().(*bolt.DB).Path())
			return
		}
		k := visit{v.Pointer(), v.Type()}
		if m.seen[k] {
			return
		}
		m.seen[k] = true
		m.walk(v.Elem(), depth+1)
	case reflect.Interface:
		if !v.IsNil() {
			m.walk(readable(v.Elem()), depth+1)
		}
	case reflect.Struct:
		v = readable(v)
		for i := range v.NumField() {
			m.walk(readable(v.Field(i)), depth+1)
		}
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			m.chunks = append(m.chunks, bytes.Clone(v.Bytes()))
			return
		}
		for i := range min(v.Len(), 1<<20) {
			m.walk(readable(v.Index(i)), depth+1)
		}
	case reflect.Array:
		v = readable(v)
		if v.Type().Elem().Kind() == reflect.Uint8 {
			m.chunks = append(m.chunks, bytes.Clone(v.Bytes()))
			return
		}
		for i := range min(v.Len(), 1<<20) {
			m.walk(readable(v.Index(i)), depth+1)
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		it := v.MapRange()
		for it.Next() {
			m.walk(readable(it.Key()), depth+1)
			m.walk(readable(it.Value()), depth+1)
		}
	}
}
