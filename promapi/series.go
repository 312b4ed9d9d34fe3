package promapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// checkContextEvery bounds how many series are read between checks for a
// client that went away, so long listings stop early without paying for a
// check per series.
const checkContextEvery = 128

func (a *API) series(r *http.Request) result {
	if len(r.Form["match[]"]) == 0 {
		return failure(&apiError{errBadData, errors.New("no match[] parameter provided")})
	}
	p, apiErr := a.parseSeriesParams(r, true)
	if apiErr != nil {
		return failure(apiErr)
	}
	mint, maxt := timestamp.FromTime(p.start), timestamp.FromTime(p.end)
	q, err := a.queryable.Querier(mint, maxt)
	if err != nil {
		return failure(storageError(err))
	}
	// Labels read from the querier are only valid until it is closed.
	res := result{finalizer: func() { q.Close() }}

	ctx := r.Context()
	hints := &storage.SelectHints{
		Start: mint,
		End:   maxt,
		Func:  "series", // Not a function: tells the storage no samples are needed.
		Limit: hintLimit(p.limit),
	}
	// Always sorted: unsorted, the head answers in creation order, and a
	// limit would keep the oldest series (the scraped ones) and drop later
	// ones such as ALERTS that sort first. Merging several selectors, which
	// removes series matched twice, needs sorted inputs anyway.
	var set storage.SeriesSet
	if len(p.matcherSets) == 1 {
		set = q.Select(ctx, true, hints, p.matcherSets[0]...)
	} else {
		sets := make([]storage.SeriesSet, 0, len(p.matcherSets))
		for _, ms := range p.matcherSets {
			sets = append(sets, q.Select(ctx, true, hints, ms...))
		}
		set = storage.NewMergeSeriesSet(sets, 0, storage.ChainedSeriesMerge)
	}

	metrics := seriesData{}
	for i := 1; set.Next(); i++ {
		if i%checkContextEvery == 0 {
			if err := ctx.Err(); err != nil {
				res.err = storageError(err)
				return res
			}
		}
		if p.limit > 0 && len(metrics) == p.limit {
			res.warnings = res.warnings.Add(errTruncated)
			break
		}
		metrics = append(metrics, set.At().Labels())
	}
	if err := set.Err(); err != nil {
		res.err = storageError(err)
		return res
	}
	res.warnings.Merge(set.Warnings())
	res.data = metrics
	return res
}

// seriesData is the "data" of /series, written without reflection as
// a listing can hold many thousand label sets.
type seriesData []labels.Labels

func (s seriesData) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '[')
	for i, ls := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLabels(b, ls)
	}
	return append(b, ']'), nil
}

func (a *API) labelNames(r *http.Request) result {
	p, apiErr := a.parseSeriesParams(r, false)
	if apiErr != nil {
		return failure(apiErr)
	}
	return a.labelStrings(r, p, func(q storage.Querier, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelNames(r.Context(), hints, ms...)
	})
}

func (a *API) labelValues(r *http.Request) result {
	name := r.PathValue("name")
	// Label names that are not valid legacy names arrive escaped, because
	// they would not survive as a URL path segment otherwise.
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		return failure(&apiError{errBadData, fmt.Errorf("invalid label name: %q", name)})
	}
	p, apiErr := a.parseSeriesParams(r, false)
	if apiErr != nil {
		return failure(apiErr)
	}
	return a.labelStrings(r, p, func(q storage.Querier, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
		// No limit for the storage: the head cuts its values at the limit
		// in creation order before sorting them, so ALERTS, written after
		// the first scrape, never made it into a limited answer although
		// it sorts first. labelStrings sorts, then limits.
		return q.LabelValues(r.Context(), name, nil, ms...)
	})
}

type labelLookup func(q storage.Querier, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error)

// labelStrings answers /labels and /label/<name>/values: one lookup per
// match[] selector (or one without matchers), merged, sorted and limited.
func (a *API) labelStrings(r *http.Request, p seriesParams, lookup labelLookup) result {
	q, err := a.queryable.Querier(timestamp.FromTime(p.start), timestamp.FromTime(p.end))
	if err != nil {
		return failure(storageError(err))
	}
	// The strings may point into the index until the querier is closed.
	res := result{finalizer: func() { q.Close() }}
	hints := &storage.LabelHints{Limit: hintLimit(p.limit)}

	var vals []string
	switch len(p.matcherSets) {
	case 0, 1:
		var ms []*labels.Matcher
		if len(p.matcherSets) == 1 {
			ms = p.matcherSets[0]
		}
		vals, res.warnings, err = lookup(q, hints, ms...)
		if err != nil {
			res.err = storageError(err)
			return res
		}
	default:
		seen := map[string]struct{}{}
		for _, ms := range p.matcherSets {
			got, ws, err := lookup(q, hints, ms...)
			if err != nil {
				res.err = storageError(err)
				return res
			}
			res.warnings.Merge(ws)
			for _, v := range got {
				if _, ok := seen[v]; !ok {
					seen[v] = struct{}{}
					vals = append(vals, v)
				}
			}
		}
	}
	// Storages promise sorted answers, but a merge of several is not.
	slices.Sort(vals)
	if vals == nil {
		vals = []string{}
	}
	if p.limit > 0 && len(vals) > p.limit {
		vals = vals[:p.limit]
		res.warnings = res.warnings.Add(errTruncated)
	}
	res.data = vals
	return res
}
