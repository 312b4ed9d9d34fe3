package promapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/index"
)

// tsdbStatus is the "data" of /status/tsdb: the head's size and its
// largest cardinalities, as Prometheus's TSDB status page shows them.
type tsdbStatus struct {
	HeadStats                   headStats  `json:"headStats"`
	SeriesCountByMetricName     []tsdbStat `json:"seriesCountByMetricName"`
	LabelValueCountByLabelName  []tsdbStat `json:"labelValueCountByLabelName"`
	MemoryInBytesByLabelName    []tsdbStat `json:"memoryInBytesByLabelName"`
	SeriesCountByLabelValuePair []tsdbStat `json:"seriesCountByLabelValuePair"`
}

type headStats struct {
	NumSeries     uint64 `json:"numSeries"`
	NumLabelPairs int    `json:"numLabelPairs"`
	ChunkCount    int64  `json:"chunkCount"`
	MinTime       int64  `json:"minTime"`
	MaxTime       int64  `json:"maxTime"`
}

type tsdbStat struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

// maxTSDBStatusLimit is Prometheus's bound on the top-N lists.
const maxTSDBStatusLimit = 10000

func (a *API) serveTSDBStatus(r *http.Request) result {
	limit := 10
	if s := r.FormValue("limit"); s != "" {
		var err error
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 {
			return failure(&apiError{errBadData, errors.New("limit must be a positive number")})
		}
		if limit > maxTSDBStatusLimit {
			return failure(&apiError{errBadData, fmt.Errorf("limit must not exceed %d", maxTSDBStatusLimit)})
		}
	}
	out := tsdbStatus{SeriesCountByMetricName: []tsdbStat{}, LabelValueCountByLabelName: []tsdbStat{},
		MemoryInBytesByLabelName: []tsdbStat{}, SeriesCountByLabelValuePair: []tsdbStat{}}
	if a.opts.Head == nil {
		return success(out)
	}
	st := a.opts.Head.Head().Stats(labels.MetricName, limit)
	out.HeadStats = headStats{NumSeries: st.NumSeries, NumLabelPairs: st.IndexPostingStats.NumLabelPairs,
		ChunkCount: a.headChunks(), MinTime: st.MinTime, MaxTime: st.MaxTime}
	out.SeriesCountByMetricName = toTSDBStats(st.IndexPostingStats.CardinalityMetricsStats)
	out.LabelValueCountByLabelName = toTSDBStats(st.IndexPostingStats.CardinalityLabelStats)
	out.MemoryInBytesByLabelName = toTSDBStats(st.IndexPostingStats.LabelValueStats)
	out.SeriesCountByLabelValuePair = toTSDBStats(st.IndexPostingStats.LabelValuePairsStats)
	return success(out)
}

// headChunks reads the head's chunk count from its gauge, as Prometheus
// does: the head keeps no other count. 0 without a gatherer.
func (a *API) headChunks() int64 {
	if a.opts.Gatherer == nil {
		return 0
	}
	mfs, err := a.opts.Gatherer.Gather()
	if err != nil {
		a.logger.Debug("gathering metrics for the TSDB status failed", "err", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "prometheus_tsdb_head_chunks" && len(mf.GetMetric()) > 0 {
			return int64(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	return 0
}

func toTSDBStats(in []index.Stat) []tsdbStat {
	out := make([]tsdbStat, 0, len(in))
	for _, s := range in {
		out = append(out, tsdbStat{Name: s.Name, Value: s.Count})
	}
	return out
}

// walReplay is the "data" of /status/walreplay: WAL segments replayed of
// the range. The API serves only once the store is open, so it always
// reads as done; it is there for clients that poll it.
type walReplay struct {
	Min     int `json:"min"`
	Max     int `json:"max"`
	Current int `json:"current"`
}

func (a *API) serveWALReplay(*http.Request) result {
	if a.opts.DBStats == nil || a.opts.DBStats.Head == nil {
		return success(walReplay{})
	}
	s := a.opts.DBStats.Head.WALReplayStatus.GetWALReplayStatus()
	return success(walReplay{Min: s.Min, Max: s.Max, Current: s.Current})
}
