// Package fastcachebench measures where github.com/VictoriaMetrics/fastcache
// could hold gatewarden's hot per-key state instead of a Go map: the
// scrape cache (series by the hash of their exposition text) and the
// receiver's digests of what the store holds per alert fingerprint. It has
// no code of its own; its benchmarks are the measurement, and
// docs/benchmarks.md has the figures and the decision. Run each
// sub-benchmark in a process of its own (-bench 'SeriesCache/fastcache$'):
// fastcache reuses memory it mapped for an earlier one, which would then
// not count.
package fastcachebench
