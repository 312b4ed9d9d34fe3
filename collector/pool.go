package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/storage"
	"gopkg.in/yaml.v3"

	"github.com/gatewarden/gatewarden/config"
)

// pool runs the scrape loops of one job and keeps them in step with its
// static and file-discovered targets.
type pool struct {
	job    string
	cfg    *config.ScrapeConfig
	client *http.Client
	app    storage.Appendable
	m      *metrics
	notify func(Event)
	logger *slog.Logger
	// tolerance aligns each loop's timestamps to its grid (newSchedule).
	tolerance time.Duration

	mtx   sync.Mutex
	loops map[string]*loop
	// fileGroups keeps the last good read of each file_sd file, so a file
	// caught half-written does not drop its targets.
	fileGroups map[string][]group

	cancel context.CancelFunc
	done   chan struct{}
}

func newPool(sc *config.ScrapeConfig, app storage.Appendable, m *metrics, notify func(Event), logger *slog.Logger, tolerance time.Duration) (*pool, error) {
	client, err := commoncfg.NewClientFromConfig(sc.HTTPClientConfig(), sc.JobName)
	if err != nil {
		return nil, fmt.Errorf("job %q: %w", sc.JobName, err)
	}
	return &pool{
		job: sc.JobName, cfg: sc, client: client, app: app, m: m, notify: notify, tolerance: tolerance,
		logger:     logger.With("job", sc.JobName),
		loops:      map[string]*loop{},
		fileGroups: map[string][]group{},
	}, nil
}

// start discovers the targets once before returning, so a reload can tell
// which old targets are gone; file_sd is then re-read in the background.
func (p *pool) start(ctx context.Context) {
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = make(chan struct{})
	p.readFiles()
	p.sync(ctx)
	go func() {
		defer close(p.done)
		p.watchFiles(ctx)
	}()
}

func (p *pool) targets() map[string]*target {
	out := map[string]*target{}
	add := func(groups []group) {
		for _, g := range groups {
			for _, addr := range g.Targets {
				t, err := newTarget(p.cfg, addr, g.Labels)
				if err != nil {
					if !errors.Is(err, errDropped) {
						p.logger.Warn("invalid target", "address", addr, "err", err)
					}
					continue
				}
				out[t.labels.String()+t.url] = t
			}
		}
	}
	for _, sc := range p.cfg.StaticConfigs {
		add([]group{{Targets: sc.Targets, Labels: sc.Labels}})
	}
	for _, gs := range p.fileGroups {
		add(gs)
	}
	return out
}

// sync starts loops for new targets and stops, with staleness markers, the
// loops of targets that are gone.
func (p *pool) sync(ctx context.Context) {
	want := p.targets()
	p.mtx.Lock()
	defer p.mtx.Unlock()
	if ctx.Err() != nil {
		return // stopping: stop decides what the loops write
	}
	for key, l := range p.loops {
		if _, ok := want[key]; !ok {
			l.stop(true)
			delete(p.loops, key)
		}
	}
	for key, t := range want {
		if _, ok := p.loops[key]; ok {
			continue
		}
		l := newLoop(p.job, t, p.cfg, p.client, p.app, p.m, p.notify, p.logger)
		l.schedule = newSchedule(t.interval, p.tolerance)
		var lctx context.Context
		lctx, l.cancel = context.WithCancel(ctx)
		p.loops[key] = l
		go l.run(lctx)
	}
	p.m.targets.WithLabelValues(p.job).Set(float64(len(p.loops)))
}

// stop ends every loop. Targets in keep continue under a new pool and get no
// staleness markers; the others do, unless the whole process is stopping.
func (p *pool) stop(keep map[string]bool, shutdown bool) {
	// Decide before cancelling, as a loop writes its markers as it ends, and
	// cancel under the lock, so a concurrent sync sees the cancelled context
	// and starts nothing.
	p.mtx.Lock()
	for key, l := range p.loops {
		l.staleOnStop.Store(!shutdown && !keep[key])
	}
	p.cancel()
	p.mtx.Unlock()
	<-p.done
	p.mtx.Lock()
	defer p.mtx.Unlock()
	for _, l := range p.loops {
		<-l.done
	}
	p.loops = map[string]*loop{}
}

// targetKeys are the targets the pool will scrape once started.
func (p *pool) targetKeys() map[string]bool {
	out := map[string]bool{}
	for k := range p.targets() {
		out[k] = true
	}
	return out
}

// loopList returns the running loops, so callers read them without
// holding up a sync.
func (p *pool) loopList() []*loop {
	p.mtx.Lock()
	defer p.mtx.Unlock()
	out := make([]*loop, 0, len(p.loops))
	for _, l := range p.loops {
		out = append(out, l)
	}
	return out
}

func (p *pool) watchFiles(ctx context.Context) {
	if len(p.cfg.FileSDConfigs) == 0 {
		<-ctx.Done()
		return
	}
	every := time.Duration(p.cfg.FileSDConfigs[0].RefreshInterval)
	for _, f := range p.cfg.FileSDConfigs[1:] {
		every = min(every, time.Duration(f.RefreshInterval))
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			before := p.fileGroups
			p.readFiles()
			if !reflect.DeepEqual(before, p.fileGroups) {
				p.sync(ctx)
			}
		}
	}
}

// readFiles re-reads every file_sd file; p.fileGroups is replaced, never
// mutated, so watchFiles can compare old and new.
func (p *pool) readFiles() {
	next := map[string][]group{}
	for _, fsd := range p.cfg.FileSDConfigs {
		for _, pattern := range fsd.Files {
			files, _ := filepath.Glob(pattern) // patterns were validated with the config
			for _, f := range files {
				groups, err := readGroupFile(f)
				if err != nil {
					p.m.sdReadFailures.Inc()
					p.logger.Error("reading file_sd file failed; keeping its last targets", "file", f, "err", err)
					groups = p.fileGroups[f]
				}
				next[f] = groups
			}
		}
	}
	p.fileGroups = next
}

func readGroupFile(name string) ([]group, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var groups []group
	if filepath.Ext(name) == ".json" {
		err = json.Unmarshal(b, &groups)
	} else {
		err = yaml.Unmarshal(b, &groups)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return groups, nil
}
