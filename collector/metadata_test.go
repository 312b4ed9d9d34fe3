package collector

import (
	"context"
	"reflect"
	"testing"
)

// TestMetadataCache scrapes HELP, TYPE and UNIT lines and checks they are
// kept as Prometheus's scrape cache keeps them: per family, updated when
// they change, forgotten metadataKeep scrapes after the family went away.
func TestMetadataCache(t *testing.T) {
	tl := newTestLoop(t, newTestDB(t), "")
	ctx := context.Background()
	// Only OpenMetrics has UNIT lines; the text format's parser skips them.
	tl.exp.contentType = "application/openmetrics-text; version=1.0.0"
	tl.exp.set("# HELP requests_total Requests served.\n# TYPE requests_total counter\nrequests_total 1\n" +
		"# TYPE temp_celsius gauge\n# UNIT temp_celsius celsius\ntemp_celsius 20\n" +
		"untyped_metric 3\n# EOF\n")
	tl.scrape(ctx, at(0))
	want := []MetricMetadata{
		{Metric: "requests_total", Type: "counter", Help: "Requests served."},
		{Metric: "temp_celsius", Type: "gauge", Unit: "celsius"},
	}
	if got := tl.metadata().Metrics; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}

	tl.exp.contentType = ""
	tl.exp.set("# HELP requests_total All requests.\n# TYPE requests_total counter\nrequests_total 2\n")
	for i := 1; i <= metadataKeep; i++ {
		tl.scrape(ctx, at(i))
	}
	want = []MetricMetadata{{Metric: "requests_total", Type: "counter", Help: "All requests."}, want[1]}
	if got := tl.metadata().Metrics; !reflect.DeepEqual(got, want) {
		t.Fatalf("after %d scrapes without temp_celsius: got %+v\nwant %+v", metadataKeep, got, want)
	}
	tl.scrape(ctx, at(metadataKeep+1))
	if got := tl.metadata().Metrics; !reflect.DeepEqual(got, want[:1]) {
		t.Fatalf("temp_celsius should be forgotten: got %+v", got)
	}
	if md := tl.metadata(); md.ScrapePool != "gw" || md.Labels.Get("env") != "test" {
		t.Errorf("target: %+v", md)
	}
}
