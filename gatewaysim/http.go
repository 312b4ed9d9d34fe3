package gatewaysim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxBodyBytes bounds request bodies; a throttle or scenario request is a
// few hundred bytes.
const maxBodyBytes = 64 << 10

// maxScenarioBytes bounds POST /sim/scenario instead: a cpu-trace carries
// its CSV inline, about 500 KB for a day of one instance at 10 s.
const maxScenarioBytes = 16 << 20

func (s *Sim) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "gatewaysim is Healthy.")
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "gatewaysim is Ready.")
	})
	mux.HandleFunc("GET /sim/scenario", s.listScenarios)
	mux.HandleFunc("POST /sim/scenario", s.postScenario)
	mux.HandleFunc("DELETE /sim/scenario", s.deleteScenario)
	mux.HandleFunc("DELETE /sim/scenario/{id}", s.deleteScenario)
	mux.HandleFunc("GET /internal/gateway/throttle", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string][]Throttle{"throttles": s.Throttles()})
	})
	mux.HandleFunc("PATCH /internal/gateway/throttle", s.patchThrottle)
	s.sinks.routes(mux)
	return mux
}

// metricsHandler serves the registry, unless an outage of the whole endpoint
// answers 503 or holds the request until the outage ends or the scraper
// gives up.
func (s *Sim) metricsHandler() http.Handler {
	prom := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelError),
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for o := s.endpoint.Load(); o != nil; o = s.endpoint.Load() {
			if !o.hang {
				http.Error(w, "gateway outage (simulated)", http.StatusServiceUnavailable)
				return
			}
			select {
			case <-o.done:
			case <-r.Context().Done():
				return
			}
		}
		prom.ServeHTTP(w, r)
	})
}

func (s *Sim) listScenarios(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string][]*Scenario{"scenarios": s.Scenarios()})
}

func (s *Sim) postScenario(w http.ResponseWriter, r *http.Request) {
	var req ScenarioRequest
	if status, err := decodeJSONLimit(w, r, &req, true, maxScenarioBytes); err != nil {
		writeJSON(w, status, errorBody{err.Error()})
		return
	}
	sc, err := s.StartScenario(req)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
		return
	}
	if sc == nil { // reset
		s.listScenarios(w, r)
		return
	}
	writeJSON(w, http.StatusOK, sc)
}

// deleteScenario stops the scenario named by the {id} path segment, or all
// of them without one, and answers with those still running.
func (s *Sim) deleteScenario(w http.ResponseWriter, r *http.Request) {
	id := 0
	if v := r.PathValue("id"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			writeJSON(w, http.StatusBadRequest, errorBody{fmt.Sprintf("bad scenario id %q", v)})
			return
		}
		id = n
	}
	if !s.StopScenario(id) && id != 0 {
		writeJSON(w, http.StatusNotFound, errorBody{fmt.Sprintf("no running scenario %d", id)})
		return
	}
	s.listScenarios(w, r)
}

type errorBody struct {
	Error string `json:"error"`
}

// decodeJSON reads one JSON value of at most maxBodyBytes into v and returns
// the status to answer with when it cannot. strict rejects unknown fields:
// the simulator's own API does, the gateway's throttle API ignores them as a
// real gateway would.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, strict bool) (int, error) {
	return decodeJSONLimit(w, r, v, strict, maxBodyBytes)
}

// decodeJSONLimit is decodeJSON with a body of at most limit bytes.
func decodeJSONLimit(w http.ResponseWriter, r *http.Request, v any, strict bool, limit int64) (int, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	if strict {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(v)
	if err == nil {
		// A second value, or garbage, after the first is a malformed body.
		if err = dec.Decode(new(json.RawMessage)); err == io.EOF {
			return 0, nil
		} else if err == nil {
			err = errors.New("more than one JSON value")
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("request body exceeds %d bytes", limit)
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, errors.New("empty request body")
	default:
		return http.StatusBadRequest, fmt.Errorf("malformed JSON: %w", err)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// Once the status is out, a failed write has no one left to tell.
	_ = json.NewEncoder(w).Encode(v)
}
