package rules

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/template"
)

// templateDefs give label and annotation templates the variables Prometheus
// gives them, so Prometheus rule files expand the same here.
var templateDefs = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"

// TemplateData is what one expansion sees.
type TemplateData struct {
	Labels         map[string]string
	ExternalLabels map[string]string
	ExternalURL    string
	Value          float64
	Time           time.Time
	// Query backs the query template function; nil makes it fail.
	Query template.QueryFunc
	// URL is the external URL parsed, for pathPrefix; may be nil.
	URL *url.URL
}

func expander(ctx context.Context, name, text string, d TemplateData) *template.Expander {
	data := template.AlertTemplateData(d.Labels, d.ExternalLabels, d.ExternalURL, promql.Sample{F: d.Value})
	return template.NewTemplateExpander(ctx, templateDefs+text, "__alert_"+name, data, model.TimeFromUnixNano(d.Time.UnixNano()), d.Query, d.URL, nil)
}

// Expand renders one label or annotation template of alert name.
func Expand(ctx context.Context, name, text string, d TemplateData) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil // most labels are plain: skip the template machinery
	}
	return expander(ctx, name, text, d).Expand()
}

func checkTemplate(name, text string) error {
	return expander(context.Background(), name, text, TemplateData{Time: time.Now()}).ParseTest()
}
