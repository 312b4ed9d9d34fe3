package promapi

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/collector"
)

// targetDiscovery is the "data" of /targets, in Prometheus's shape.
type targetDiscovery struct {
	ActiveTargets  []target        `json:"activeTargets"`
	DroppedTargets []droppedTarget `json:"droppedTargets"`
	// Prometheus leaves this null when dropped targets were not asked for.
	DroppedTargetCounts map[string]int `json:"droppedTargetCounts"`
}

type target struct {
	DiscoveredLabels   labels.Labels    `json:"discoveredLabels"`
	Labels             labels.Labels    `json:"labels"`
	ScrapePool         string           `json:"scrapePool"`
	ScrapeURL          string           `json:"scrapeUrl"`
	GlobalURL          string           `json:"globalUrl"`
	LastError          string           `json:"lastError"`
	LastScrape         time.Time        `json:"lastScrape"`
	LastScrapeDuration float64          `json:"lastScrapeDuration"`
	Health             collector.Health `json:"health"`
	ScrapeInterval     string           `json:"scrapeInterval"`
	ScrapeTimeout      string           `json:"scrapeTimeout"`
}

// droppedTarget is never filled: the collector does not relabel targets
// away. It is kept so the JSON has the element type clients expect.
type droppedTarget struct {
	DiscoveredLabels labels.Labels `json:"discoveredLabels"`
	ScrapePool       string        `json:"scrapePool"`
}

func (a *API) targetList(r *http.Request) result {
	pool := r.FormValue("scrapePool")
	state := strings.ToLower(r.FormValue("state"))
	showActive := state == "" || state == "any" || state == "active"
	showDropped := state == "" || state == "any" || state == "dropped"

	var all []collector.TargetStatus
	if a.targets != nil {
		all = a.targets.Targets()
	}
	// Prometheus lists pools in name order and keeps each pool's own order.
	all = slices.Clone(all)
	slices.SortStableFunc(all, func(x, y collector.TargetStatus) int {
		return cmp.Compare(x.ScrapePool, y.ScrapePool)
	})

	res := &targetDiscovery{ActiveTargets: []target{}, DroppedTargets: []droppedTarget{}}
	if showActive {
		for _, t := range all {
			if pool != "" && t.ScrapePool != pool {
				continue
			}
			res.ActiveTargets = append(res.ActiveTargets, newTarget(t))
		}
	}
	if showDropped {
		res.DroppedTargetCounts = map[string]int{}
		for _, t := range all {
			res.DroppedTargetCounts[t.ScrapePool] = 0
		}
	}
	return success(res)
}

func newTarget(t collector.TargetStatus) target {
	health := t.Health
	if health == "" {
		health = collector.HealthUnknown
	}
	return target{
		DiscoveredLabels: t.DiscoveredLabels,
		Labels:           t.Labels,
		ScrapePool:       t.ScrapePool,
		ScrapeURL:        t.ScrapeURL,
		// Without an external URL to rewrite to, the scrape URL is the
		// best global URL there is.
		GlobalURL:          t.ScrapeURL,
		LastError:          t.LastError,
		LastScrape:         t.LastScrape,
		LastScrapeDuration: t.LastScrapeDuration.Seconds(),
		Health:             health,
		ScrapeInterval:     model.Duration(t.ScrapeInterval).String(),
		ScrapeTimeout:      model.Duration(t.ScrapeTimeout).String(),
	}
}

// scrapePools answers /scrape_pools: the job names, sorted. The config
// has them all, jobs without targets too; without it the targets say.
func (a *API) scrapePools(*http.Request) result {
	pools := []string{}
	switch {
	case a.opts.Config != nil:
		for _, sc := range a.opts.Config().ScrapeConfigs {
			pools = append(pools, sc.JobName)
		}
	case a.targets != nil:
		for _, t := range a.targets.Targets() {
			pools = append(pools, t.ScrapePool)
		}
	}
	slices.Sort(pools)
	pools = slices.Compact(pools)
	return success(struct {
		ScrapePools []string `json:"scrapePools"`
	}{pools})
}
