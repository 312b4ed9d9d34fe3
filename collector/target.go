package collector

import (
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Health is a target's health as of its last scrape, in Prometheus's words.
type Health string

const (
	HealthUnknown Health = "unknown"
	HealthGood    Health = "up"
	HealthBad     Health = "down"
)

// TargetStatus is a snapshot of one target for the targets API and the console.
type TargetStatus struct {
	// DiscoveredLabels are the labels before relabeling (__address__, __scheme__, ...).
	DiscoveredLabels labels.Labels
	// Labels are the target labels attached to every series scraped from it.
	Labels             labels.Labels
	ScrapePool         string // the job_name
	ScrapeURL          string
	LastError          string
	LastScrape         time.Time
	LastScrapeDuration time.Duration
	Health             Health
	ScrapeInterval     time.Duration
	ScrapeTimeout      time.Duration
}

// target is one scrape endpoint after relabeling.
type target struct {
	discovered labels.Labels
	labels     labels.Labels
	url        string
	interval   time.Duration
	timeout    time.Duration
}
