package fastcachebench

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/fastcache"
)

const n = 100_000

// seriesKeys are 16-byte keys as the scrape cache makes them: two hashes of
// an exposition line.
func seriesKeys() [][16]byte {
	seed := maphash.MakeSeed()
	keys := make([][16]byte, n)
	for i := range keys {
		line := fmt.Sprintf(`neutral_requests_total{master="m%d",key="m%d-k%d",provider="p%d",model="model-%d",code="%d"}`, i/1000, i/1000, i%1000, i%5, i%7, 200+i%10)
		binary.LittleEndian.PutUint64(keys[i][:8], maphash.String(seed, line))
		binary.LittleEndian.PutUint64(keys[i][8:], maphash.String(seed, line+"\xff"))
	}
	return keys
}

// fingerprints are alert fingerprints as the receiver keys its digests.
func fingerprints() []string {
	fps := make([]string, n)
	for i := range fps {
		fps[i] = fmt.Sprintf("%016x", rand.Uint64())
	}
	return fps
}

// BenchmarkSeriesCache: the scrape cache's lookup, key → entry index.
func BenchmarkSeriesCache(b *testing.B) {
	keys := seriesKeys()
	order := rand.Perm(n)
	b.Run("map", func(b *testing.B) {
		var m map[[16]byte]int32
		perKey := rssPerKey(func() { m = make(map[[16]byte]int32); fillMap(m, keys) })
		lookups(b, perKey, func(i int) bool { _, ok := m[keys[order[i%n]]]; return ok })
	})
	b.Run("fastcache", func(b *testing.B) {
		c := fastcache.New(32 << 20)
		defer c.Reset()
		var v [4]byte
		perKey := rssPerKey(func() {
			for i, k := range keys {
				binary.LittleEndian.PutUint32(v[:], uint32(i))
				c.Set(k[:], v[:])
			}
		})
		var dst []byte
		lookups(b, perKey, func(i int) bool {
			var ok bool
			dst, ok = c.HasGet(dst[:0], keys[order[i%n]][:])
			return ok
		})
	})
}

// BenchmarkFingerprintDigests: the recorder's digest per fingerprint.
func BenchmarkFingerprintDigests(b *testing.B) {
	fps := fingerprints()
	order := rand.Perm(n)
	b.Run("map", func(b *testing.B) {
		var m map[string]uint64
		perKey := rssPerKey(func() {
			m = make(map[string]uint64)
			for i, fp := range fps {
				m[strings.Clone(fp)] = uint64(i)
			}
		})
		lookups(b, perKey, func(i int) bool { _, ok := m[fps[order[i%n]]]; return ok })
	})
	b.Run("fastcache", func(b *testing.B) {
		c := fastcache.New(32 << 20)
		defer c.Reset()
		var v [8]byte
		perKey := rssPerKey(func() {
			for i, fp := range fps {
				binary.LittleEndian.PutUint64(v[:], uint64(i))
				c.Set([]byte(fp), v[:])
			}
		})
		var dst []byte
		lookups(b, perKey, func(i int) bool {
			var ok bool
			dst, ok = c.HasGet(dst[:0], []byte(fps[order[i%n]]))
			return ok
		})
	})
}

func fillMap(m map[[16]byte]int32, keys [][16]byte) {
	for i, k := range keys {
		m[k] = int32(i)
	}
}

func lookups(b *testing.B, rssPerKey float64, get func(int) bool) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if !get(i) {
			b.Fatal("key not found")
		}
	}
	b.ReportMetric(rssPerKey, "RSS-B/key")
}

// rssPerKey is the resident memory fill adds, per key: the Go heap and
// what fastcache maps outside it alike, with freed memory returned first.
func rssPerKey(fill func()) float64 {
	debug.FreeOSMemory()
	before := rss()
	fill()
	debug.FreeOSMemory()
	return (rss() - before) / n
}

func rss() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize())
}
