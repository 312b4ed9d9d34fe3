package promapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/stats"
)

// maxPointsPerSeries caps range queries as Prometheus does: enough for a
// week at 60s resolution or a year at 1h.
const maxPointsPerSeries = 11000

func (a *API) query(r *http.Request) result {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return failure(paramError(err, "limit"))
	}
	ts, err := timeParam(r, "time", a.now())
	if err != nil {
		return failure(paramError(err, "time"))
	}
	return run(r, limit, func(ctx context.Context, opts promql.QueryOpts, qs string) (promql.Query, error) {
		return a.engine.NewInstantQuery(ctx, a.queryable, opts, qs, ts)
	})
}

func (a *API) queryRange(r *http.Request) result {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return failure(paramError(err, "limit"))
	}
	start, err := parseTime(r.FormValue("start"))
	if err != nil {
		return failure(paramError(err, "start"))
	}
	end, err := parseTime(r.FormValue("end"))
	if err != nil {
		return failure(paramError(err, "end"))
	}
	if end.Before(start) {
		return failure(paramError(errors.New("end timestamp must not be before start time"), "end"))
	}
	step, err := parseDuration(r.FormValue("step"))
	if err != nil {
		return failure(paramError(err, "step"))
	}
	if step <= 0 {
		return failure(paramError(errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer"), "step"))
	}
	if end.Sub(start)/step > maxPointsPerSeries {
		return failure(&apiError{errBadData, errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")})
	}
	return run(r, limit, func(ctx context.Context, opts promql.QueryOpts, qs string) (promql.Query, error) {
		return a.engine.NewRangeQuery(ctx, a.queryable, opts, qs, start, end, step)
	})
}

// run applies the parameters instant and range queries share (timeout,
// lookback_delta, query), builds the query and executes it.
func run(r *http.Request, limit int, build func(context.Context, promql.QueryOpts, string) (promql.Query, error)) result {
	ctx, cancel, apiErr := timeoutContext(r)
	if apiErr != nil {
		return failure(apiErr)
	}
	defer cancel()
	opts, apiErr := queryOpts(r)
	if apiErr != nil {
		return failure(apiErr)
	}
	qs := r.FormValue("query")
	qry, err := build(ctx, opts, qs)
	if err != nil {
		return failure(paramError(err, "query"))
	}
	return execQuery(ctx, qry, qs, limit, r.FormValue("stats") != "")
}

// timeoutContext applies the optional timeout parameter. It measures real
// time rather than Options.Now: an injected clock says when a query is
// evaluated, not how long it may run.
func timeoutContext(r *http.Request) (context.Context, context.CancelFunc, *apiError) {
	to := r.FormValue("timeout")
	if to == "" {
		return r.Context(), func() {}, nil
	}
	d, err := parseDuration(to)
	if err != nil {
		return nil, nil, paramError(err, "timeout")
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	return ctx, cancel, nil
}

// queryOpts reads the per-query lookback_delta, and stats=all, which adds
// the samples of each step to the statistics.
func queryOpts(r *http.Request) (promql.QueryOpts, *apiError) {
	var lookback time.Duration
	if s := r.FormValue("lookback_delta"); s != "" {
		d, err := parseDuration(s)
		if err != nil {
			return nil, &apiError{errBadData, fmt.Errorf("error parsing lookback delta duration: %w", err)}
		}
		lookback = d
	}
	return promql.NewPrometheusQueryOpts(r.FormValue("stats") == "all", lookback), nil
}

// execQuery runs qry and hands its Close to the response writer: the
// result's label strings point into memory that Close gives back. With
// withStats (any stats parameter, as Prometheus) the data carries the
// query's timings and sample counts.
func execQuery(ctx context.Context, qry promql.Query, qs string, limit int, withStats bool) result {
	res := qry.Exec(ctx)
	if res.Err != nil {
		qry.Close()
		return failure(storageError(res.Err))
	}
	warnings := res.Warnings
	if limit > 0 && truncate(res, limit) {
		warnings = warnings.Add(errTruncated)
	}
	data := queryData{value: res.Value}
	if withStats {
		data.stats = stats.NewQueryStats(qry.Stats())
	}
	return result{
		data:      data,
		warnings:  warnings,
		query:     qs,
		finalizer: qry.Close,
	}
}

// truncate limits vectors and matrices to limit series; scalars and
// strings are single values and are left alone.
func truncate(res *promql.Result, limit int) bool {
	switch v := res.Value.(type) {
	case promql.Matrix:
		if len(v) > limit {
			res.Value = v[:limit]
			return true
		}
	case promql.Vector:
		if len(v) > limit {
			res.Value = v[:limit]
			return true
		}
	}
	return false
}

// queryExemplars validates its parameters as Prometheus does but always
// returns an empty list: the TSDB is opened without exemplar storage.
func (a *API) queryExemplars(r *http.Request) result {
	start, err := timeParam(r, "start", minTime)
	if err != nil {
		return failure(paramError(err, "start"))
	}
	end, err := timeParam(r, "end", maxTime)
	if err != nil {
		return failure(paramError(err, "end"))
	}
	if end.Before(start) {
		return failure(&apiError{errBadData, errors.New("end timestamp must not be before start timestamp")})
	}
	expr, err := a.parser.ParseExpr(r.FormValue("query"))
	if err != nil {
		return failure(&apiError{errBadData, err})
	}
	if len(parser.ExtractSelectors(expr)) == 0 {
		return result{} // Prometheus answers 204 No Content here.
	}
	return success([]struct{}{})
}
