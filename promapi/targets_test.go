package promapi

import (
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/collector"
)

type fakeTargets []collector.TargetStatus

func (f fakeTargets) Targets() []collector.TargetStatus { return f }

func TestTargets(t *testing.T) {
	// The source lists pool "gateway" after "blackbox" to check the sort.
	src := fakeTargets{{
		DiscoveredLabels:   labels.FromStrings("__address__", "gw:9100", "__scheme__", "http", "__metrics_path__", "/metrics", "job", "gateway"),
		Labels:             labels.FromStrings("instance", "gw:9100", "job", "gateway"),
		ScrapePool:         "gateway",
		ScrapeURL:          "http://gw:9100/metrics",
		LastScrape:         time.Date(2026, 1, 1, 0, 9, 45, 123000000, time.UTC),
		LastScrapeDuration: 12500 * time.Microsecond,
		Health:             collector.HealthGood,
		ScrapeInterval:     15 * time.Second,
		ScrapeTimeout:      10 * time.Second,
	}, {
		DiscoveredLabels:   labels.FromStrings("__address__", "probe:9115", "job", "blackbox"),
		Labels:             labels.FromStrings("instance", "probe:9115", "job", "blackbox"),
		ScrapePool:         "blackbox",
		ScrapeURL:          "http://probe:9115/metrics",
		LastError:          `Get "http://probe:9115/metrics": dial tcp: connection refused`,
		LastScrape:         time.Date(2026, 1, 1, 0, 9, 50, 0, time.UTC),
		LastScrapeDuration: 2 * time.Second,
		Health:             collector.HealthBad,
		ScrapeInterval:     time.Minute,
		ScrapeTimeout:      90 * time.Second,
	}}
	f := newFixture(t, func(o *Options) { o.Targets = src })

	const (
		blackbox = `{"discoveredLabels":{"__address__":"probe:9115","job":"blackbox"},` +
			`"labels":{"instance":"probe:9115","job":"blackbox"},` +
			`"scrapePool":"blackbox","scrapeUrl":"http://probe:9115/metrics","globalUrl":"http://probe:9115/metrics",` +
			`"lastError":"Get \"http://probe:9115/metrics\": dial tcp: connection refused",` +
			`"lastScrape":"2026-01-01T00:09:50Z","lastScrapeDuration":2,"health":"down",` +
			`"scrapeInterval":"1m","scrapeTimeout":"1m30s"}`
		gateway = `{"discoveredLabels":{"__address__":"gw:9100","__metrics_path__":"/metrics","__scheme__":"http","job":"gateway"},` +
			`"labels":{"instance":"gw:9100","job":"gateway"},` +
			`"scrapePool":"gateway","scrapeUrl":"http://gw:9100/metrics","globalUrl":"http://gw:9100/metrics",` +
			`"lastError":"","lastScrape":"2026-01-01T00:09:45.123Z","lastScrapeDuration":0.0125,"health":"up",` +
			`"scrapeInterval":"15s","scrapeTimeout":"10s"}`
		counts = `{"blackbox":0,"gateway":0}`
	)
	for _, tc := range []struct{ query, want string }{
		{"", `{"activeTargets":[` + blackbox + `,` + gateway + `],"droppedTargets":[],"droppedTargetCounts":` + counts + `}`},
		{"?state=any", `{"activeTargets":[` + blackbox + `,` + gateway + `],"droppedTargets":[],"droppedTargetCounts":` + counts + `}`},
		{"?state=Active", `{"activeTargets":[` + blackbox + `,` + gateway + `],"droppedTargets":[],"droppedTargetCounts":null}`},
		{"?state=dropped", `{"activeTargets":[],"droppedTargets":[],"droppedTargetCounts":` + counts + `}`},
		{"?state=active&scrapePool=gateway", `{"activeTargets":[` + gateway + `],"droppedTargets":[],"droppedTargetCounts":null}`},
		{"?scrapePool=nope", `{"activeTargets":[],"droppedTargets":[],"droppedTargetCounts":` + counts + `}`},
	} {
		t.Run(tc.query, func(t *testing.T) {
			f.get(t, "/api/v1/targets"+tc.query, nil).expect(t, http.StatusOK, ok(tc.want))
		})
	}
	if len(src) != 2 || src[0].ScrapePool != "gateway" {
		t.Error("targets handler reordered the source's slice")
	}
}

func TestTargetsWithoutSource(t *testing.T) {
	f := newFixture(t)
	f.get(t, "/api/v1/targets", nil).
		expect(t, http.StatusOK, ok(`{"activeTargets":[],"droppedTargets":[],"droppedTargetCounts":{}}`))
	f.get(t, "/api/v1/targets", vals("state", "active")).
		expect(t, http.StatusOK, ok(`{"activeTargets":[],"droppedTargets":[],"droppedTargetCounts":null}`))
}

func TestBuildInfo(t *testing.T) {
	f := newFixture(t)
	f.get(t, "/api/v1/status/buildinfo", nil).expect(t, http.StatusOK,
		ok(`{"version":"1.2.3","revision":"abc","branch":"main","buildUser":"ci@host","buildDate":"20260101-00:00:00","goVersion":"go1.26"}`))

	f = newFixture(t, func(o *Options) { o.BuildInfo = nil })
	f.get(t, "/api/v1/status/buildinfo", nil).expect(t, http.StatusOK,
		ok(`{"version":"","revision":"","branch":"","buildUser":"","buildDate":"","goVersion":"`+runtime.Version()+`"}`))
}

func TestMetadata(t *testing.T) {
	f := newFixture(t)
	f.get(t, "/api/v1/metadata", nil).expect(t, http.StatusOK, ok(`{}`))
	f.get(t, "/api/v1/metadata", vals("metric", "up", "limit", "5", "limit_per_metric", "1")).expect(t, http.StatusOK, ok(`{}`))
	f.get(t, "/api/v1/metadata", vals("limit", "x")).expectError(t, 400, "bad_data", "limit must be a number")
	f.get(t, "/api/v1/metadata", vals("limit_per_metric", "x")).expectError(t, 400, "bad_data", "limit_per_metric must be a number")
}
