package gatewaysim

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path"
	"slices"
	"time"
)

// Throttle is an applied throttle: the answer to a PATCH and an entry of
// GET /internal/gateway/throttle.
type Throttle struct {
	TenantID               string    `json:"tenant_id"`
	PluginID               string    `json:"plugin_id"`
	InstanceID             string    `json:"instance_id"`
	MaxConcurrency         int       `json:"max_concurrency"`
	PreviousMaxConcurrency int       `json:"previous_max_concurrency"`
	ExpiresAt              time.Time `json:"expires_at"`
	// AppliedAt is when the gateway took the PATCH, so a benchmark can time
	// an anomaly to its throttle without polling the list.
	AppliedAt      time.Time `json:"applied_at"`
	IdempotencyKey string    `json:"idempotency_key"`
	// Released is set when the PATCH restored the original limit, which
	// ends the throttle instead of starting one.
	Released bool `json:"released,omitempty"`
}

// throttleRequest has pointers so a missing number is told from a zero.
type throttleRequest struct {
	TenantID       string   `json:"tenant_id"`
	PluginID       string   `json:"plugin_id"`
	InstanceID     string   `json:"instance_id"`
	MaxConcurrency *int     `json:"max_concurrency"`
	TTLSeconds     *float64 `json:"ttl_seconds"`
}

const (
	maxTTL            = 30 * 24 * time.Hour
	maxIdempotencyKey = 255
)

func (r *throttleRequest) validate() error {
	switch {
	case r.TenantID == "":
		return errors.New("tenant_id is required")
	case r.PluginID == "":
		return errors.New("plugin_id is required")
	case r.InstanceID == "":
		return errors.New("instance_id is required")
	case r.MaxConcurrency == nil:
		return errors.New("max_concurrency is required")
	case *r.MaxConcurrency <= 0:
		return fmt.Errorf("max_concurrency must be positive, got %d", *r.MaxConcurrency)
	case r.TTLSeconds == nil:
		return errors.New("ttl_seconds is required")
	case *r.TTLSeconds <= 0 || *r.TTLSeconds > maxTTL.Seconds():
		return fmt.Errorf("ttl_seconds must be positive and at most %g, got %g", maxTTL.Seconds(), *r.TTLSeconds)
	}
	return nil
}

// throttleAnswer is what a PATCH answered, kept per idempotency key.
type throttleAnswer struct {
	status   int
	body     any
	replayed bool
}

func (s *Sim) patchThrottle(w http.ResponseWriter, r *http.Request) {
	a := s.throttle(r, w)
	if c, ok := s.mx.throttleRequests[a.status]; ok {
		c.Inc()
	}
	if a.replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, a.status, a.body)
}

// throttle answers a PATCH. The checks run in the order a real gateway's
// layers would: body, then the front end's faults, then the instance.
func (s *Sim) throttle(r *http.Request, w http.ResponseWriter) throttleAnswer {
	if d := s.opts.ThrottleLatency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	var req throttleRequest
	if status, err := decodeJSON(w, r, &req, false); err != nil {
		return errorAnswer(status, err)
	}
	if err := req.validate(); err != nil {
		return errorAnswer(http.StatusBadRequest, err)
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" || len(key) > maxIdempotencyKey {
		return errorAnswer(http.StatusBadRequest, fmt.Errorf("an Idempotency-Key header of 1 to %d bytes is required", maxIdempotencyKey))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.ThrottleFailRate > 0 && s.faults.Float64() < s.opts.ThrottleFailRate {
		return errorAnswer(http.StatusServiceUnavailable, errors.New("throttle service unavailable (injected)"))
	}
	now := s.now()
	s.expireThrottles(now)
	if a, ok := s.idempotent.get(key); ok {
		a.replayed = true
		return a
	}
	idx, ok := s.instIdx[instanceKey{req.TenantID, req.PluginID, req.InstanceID}]
	if !ok {
		return errorAnswer(http.StatusNotFound, fmt.Errorf("unknown instance tenant_id=%q plugin_id=%q instance_id=%q",
			req.TenantID, req.PluginID, req.InstanceID))
	}
	for _, glob := range s.opts.ThrottleUnsupported {
		if ok, _ := path.Match(glob, req.PluginID); ok {
			return errorAnswer(http.StatusNotImplemented, fmt.Errorf("plugin %q does not support throttling", req.PluginID))
		}
	}
	ttl := time.Duration(*req.TTLSeconds * float64(time.Second))
	a := throttleAnswer{status: http.StatusOK, body: s.applyThrottle(idx, *req.MaxConcurrency, now, ttl, key)}
	s.idempotent.put(key, now, a)
	return a
}

// applyThrottle sets an instance's limit. A throttle replaces any earlier
// one, and expiry always restores the original limit, not the one the
// replaced throttle set.
func (s *Sim) applyThrottle(idx, limit int, now time.Time, ttl time.Duration, key string) Throttle {
	in := &s.instances[idx]
	t := Throttle{
		TenantID: in.tenant, PluginID: in.plugin, InstanceID: in.id,
		MaxConcurrency: limit, PreviousMaxConcurrency: in.limit,
		ExpiresAt: now.Add(ttl).UTC(), AppliedAt: now.UTC(), IdempotencyKey: key,
	}
	if limit == in.orig {
		t.Released, t.ExpiresAt = true, now.UTC()
		s.release(idx)
		s.logger.Info("throttle released", "tenant_id", in.tenant, "plugin_id", in.plugin, "instance_id", in.id)
		return t
	}
	in.limit, in.throttle, in.expires = limit, &t, now.Add(ttl)
	in.maxConc.Set(float64(limit))
	s.throttled[idx] = struct{}{}
	s.mx.activeThrottles.Set(float64(len(s.throttled)))
	s.logger.Info("throttle applied", "tenant_id", in.tenant, "plugin_id", in.plugin, "instance_id", in.id,
		"max_concurrency", limit, "previous", t.PreviousMaxConcurrency, "ttl", ttl)
	return t
}

func (s *Sim) release(idx int) {
	in := &s.instances[idx]
	in.limit, in.throttle = in.orig, nil
	in.maxConc.Set(float64(in.orig))
	delete(s.throttled, idx)
	s.mx.activeThrottles.Set(float64(len(s.throttled)))
}

func (s *Sim) expireThrottles(now time.Time) {
	for idx := range s.throttled {
		if in := &s.instances[idx]; !now.Before(in.expires) {
			s.release(idx)
			s.logger.Info("throttle expired", "tenant_id", in.tenant, "plugin_id", in.plugin, "instance_id", in.id)
		}
	}
}

// Throttles returns the throttles in force, ordered by instance.
func (s *Sim) Throttles() []Throttle {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireThrottles(s.now())
	out := make([]Throttle, 0, len(s.throttled))
	for _, idx := range slices.Sorted(maps.Keys(s.throttled)) {
		out = append(out, *s.instances[idx].throttle)
	}
	return out
}

func errorAnswer(status int, err error) throttleAnswer {
	return throttleAnswer{status: status, body: errorBody{err.Error()}}
}

// idempotencyStore remembers PATCH answers by key for keyRetention of sim
// time, and at most maxKeys of them, oldest forgotten first.
type idempotencyStore struct {
	answers map[string]storedAnswer
	order   []string // keys by first use; order[head:] are live
	head    int
}

type storedAnswer struct {
	at time.Time
	throttleAnswer
}

const (
	keyRetention = 24 * time.Hour
	maxKeys      = 100_000
)

func newIdempotencyStore() idempotencyStore {
	return idempotencyStore{answers: make(map[string]storedAnswer)}
}

func (st *idempotencyStore) get(key string) (throttleAnswer, bool) {
	a, ok := st.answers[key]
	return a.throttleAnswer, ok
}

func (st *idempotencyStore) put(key string, now time.Time, a throttleAnswer) {
	st.answers[key] = storedAnswer{now, a}
	st.order = append(st.order, key)
	st.prune(now)
}

func (st *idempotencyStore) prune(now time.Time) {
	for st.head < len(st.order) {
		key := st.order[st.head]
		if len(st.answers) <= maxKeys && now.Sub(st.answers[key].at) < keyRetention {
			break
		}
		delete(st.answers, key)
		st.order[st.head] = ""
		st.head++
	}
	// Compact once the dead prefix outgrows the live part, so the slice
	// stays within twice the live keys.
	if st.head > 64 && st.head > len(st.order)/2 {
		st.order = slices.Delete(st.order, 0, st.head)
		st.head = 0
	}
}
