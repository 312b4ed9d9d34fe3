package apidiff

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/common/route"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/notifications"
	v1 "github.com/prometheus/prometheus/web/api/v1"

	"github.com/gatewarden/gatewarden/promapi"
)

// Both sides claim the same build and flags, so that what differs is the
// shape of the answers, not their inputs.
var (
	buildInfo = map[string]string{"version": "3.0.0", "revision": "abc", "branch": "main", "buildUser": "ci@host", "buildDate": "20260101-00:00:00", "goVersion": "go1.26"}
	flags     = map[string]string{"storage.tsdb.path": "data", "query.timeout": "2m"}
	startTime = t0.Add(-time.Hour)
)

// serve starts h on 127.0.0.1 for the test's duration and returns its URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// gatewarden serves s through promapi, as cmd/gatewarden wires it.
func gatewardenAPI(s *store, engine *promql.Engine) http.Handler {
	api := promapi.New(promapi.Options{
		Queryable: s.db,
		Engine:    engine,
		Head:      s.db,
		DBStats:   s.stats,
		Gatherer:  s.reg,
		BuildInfo: gatewardenBuildInfo(),
		Flags:     flags,
		StartTime: startTime,
	})
	mux := http.NewServeMux()
	api.Register(mux)
	return mux
}

// gatewardenBuildInfo is buildInfo as cmd/gatewarden passes it, which
// names the application.
func gatewardenBuildInfo() map[string]string {
	m := maps.Clone(buildInfo)
	m["application"] = "gatewarden"
	return m
}

// prometheusAPI serves s through Prometheus's own handler, built as its
// web/api/v1 tests build it (helpers_test.go's newTestAPI): no scrape
// manager, rule manager, notifier, remote write or admin API, so their
// retrievers are empty and their options zero.
func prometheusAPI(s *store, engine *promql.Engine) http.Handler {
	api := v1.NewAPI(
		engine,
		s.db,
		nil, nil, // appendables: no remote write or OTLP
		s.db,
		func(context.Context) v1.ScrapePoolsRetriever { return noScrape{} },
		func(context.Context) v1.TargetRetriever { return noScrape{} },
		func(context.Context) v1.AlertmanagerRetriever { return noAlertmanagers{} },
		func() config.Config { return config.DefaultConfig },
		flags,
		v1.GlobalURLOptions{},
		func(f http.HandlerFunc) http.HandlerFunc { return f }, // always ready
		adminStats{s.db, s.stats},
		"",    // dbDir: only the admin snapshot uses it
		false, // enableAdmin
		false, // enableSearch
		0,     // maxSearchLimit
		slog.New(slog.DiscardHandler),
		func(context.Context) v1.RulesRetriever { return noRules{} },
		0, 0, 0, // remote read limits
		false, // isAgent
		nil,   // corsOrigin
		func() (v1.RuntimeInfo, error) {
			return v1.RuntimeInfo{StartTime: startTime, ReloadConfigSuccess: true, LastConfigTime: startTime}, nil
		},
		prometheusVersion(),
		func() []notifications.Notification { return nil },
		nil,   // notificationsSub: only notifications/live
		s.reg, // gatherer
		nil,   // registerer
		nil,   // statsRenderer: the default
		false, // rwEnabled
		nil,   // acceptRemoteWriteProtoMsgs
		false, // otlpEnabled
		false, // otlpDeltaToCumulative
		false, // otlpNativeDeltaIngestion
		false, // stZeroIngestionEnabled
		promapi.DefaultLookbackDelta,
		false, // enableTypeAndUnitLabels
		false, // appendMetadata
		nil,   // overrideErrorCode
		nil,   // featureRegistry: features is not served by gatewarden
		v1.OpenAPIOptions{},
		parser.NewParser(parser.Options{}),
	)
	router := route.New()
	api.Register(router.WithPrefix("/api/v1"))
	return router
}

func prometheusVersion() *v1.PrometheusVersion {
	return &v1.PrometheusVersion{
		Version: buildInfo["version"], Revision: buildInfo["revision"], Branch: buildInfo["branch"],
		BuildUser: buildInfo["buildUser"], BuildDate: buildInfo["buildDate"], GoVersion: buildInfo["goVersion"],
	}
}

// adminStats is what Prometheus's readyStorage gives the API: the head's
// statistics and the WAL replay progress of one open TSDB.
type adminStats struct {
	*tsdb.DB
	stats *tsdb.DBStats
}

func (a adminStats) Stats(name string, limit int) (*tsdb.Stats, error) {
	return a.Head().Stats(name, limit), nil
}

func (a adminStats) WALReplayStatus() (tsdb.WALReplayStatus, error) {
	return a.stats.Head.WALReplayStatus.GetWALReplayStatus(), nil
}

func (a adminStats) BlockMetas() ([]tsdb.BlockMeta, error) { return a.DB.BlockMetas(), nil }

// noScrape is a scrape manager without scrape pools, as gatewarden's
// promapi is without a TargetSource. Its lists are empty rather than nil,
// as scrape.Manager's are, which the JSON shows ([] and {}, not null).
type noScrape struct{}

func (noScrape) ScrapePools() []string                       { return []string{} }
func (noScrape) TargetsActive() map[string][]*scrape.Target  { return map[string][]*scrape.Target{} }
func (noScrape) TargetsDropped() map[string][]*scrape.Target { return map[string][]*scrape.Target{} }
func (noScrape) TargetsDroppedCounts() map[string]int        { return map[string]int{} }
func (noScrape) ScrapePoolConfig(string) (*config.ScrapeConfig, error) {
	return nil, errors.New("no scrape pools")
}

type noAlertmanagers struct{}

func (noAlertmanagers) Alertmanagers() []*url.URL        { return nil }
func (noAlertmanagers) DroppedAlertmanagers() []*url.URL { return nil }

type noRules struct{}

func (noRules) RuleGroups() []*rules.Group           { return nil }
func (noRules) AlertingRules() []*rules.AlertingRule { return nil }
