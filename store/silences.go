package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"
	"unicode/utf8"
)

// ErrInvalid: the input breaks a rule of the data model (a silence without
// matchers, an end before its start); an API should answer 400.
var ErrInvalid = errors.New("store: invalid input")

// Silence states, named as Alertmanager's.
const (
	SilenceStatePending = "pending"
	SilenceStateActive  = "active"
	SilenceStateExpired = "expired"
)

// SilenceMatcher is one label matcher of a silence, with the JSON shape of
// Alertmanager API v2 (which is also how it is stored): IsEqual false
// negates, IsRegex makes Value a regular expression anchored at both ends.
type SilenceMatcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual bool   `json:"isEqual"`
}

// Silence mutes the alerts its matchers all match while it is active.
type Silence struct {
	ID        string
	Matchers  []SilenceMatcher
	StartsAt  time.Time
	EndsAt    time.Time
	CreatedBy string
	Comment   string
	// ChangedBy is who created, updated or expired it last, as
	// authenticated; CreatedBy is the client's word.
	ChangedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// State is pending before StartsAt, active from StartsAt until EndsAt and
// expired from EndsAt on. Alertmanager also counts the instant EndsAt as
// active; here it is expired, so that ExpireSilence(now) takes effect at
// now and a second expiry at the same now is a conflict. The two agree at
// every other instant.
func (s Silence) State(now time.Time) string {
	switch {
	case now.Before(s.StartsAt):
		return SilenceStatePending
	case now.Before(s.EndsAt):
		return SilenceStateActive
	}
	return SilenceStateExpired
}

const silenceCols = "id, matchers, starts_at, ends_at, created_by, comment, changed_by, created_at, updated_at"

func scanSilence(sc interface{ Scan(...any) error }) (Silence, error) {
	var s Silence
	var matchers string
	var starts, ends, created, updated sql.NullInt64
	if err := sc.Scan(&s.ID, &matchers, &starts, &ends, &s.CreatedBy, &s.Comment, &s.ChangedBy, &created, &updated); err != nil {
		return s, err
	}
	s.StartsAt, s.EndsAt, s.CreatedAt, s.UpdatedAt = goTime(starts), goTime(ends), goTime(created), goTime(updated)
	if err := json.Unmarshal([]byte(matchers), &s.Matchers); err != nil {
		return s, fmt.Errorf("silence %s matchers: %w", s.ID, err)
	}
	return s, nil
}

// validateSilence applies Alertmanager's rules (silence.validateSilence)
// and returns the matchers as stored. A zero StartsAt means now; on top of
// Alertmanager, EndsAt must be strictly after StartsAt, as its API demands
// for new silences.
func validateSilence(s *Silence, now time.Time) (string, error) {
	if len(s.Matchers) == 0 {
		return "", fmt.Errorf("%w: a silence needs at least one matcher", ErrInvalid)
	}
	allMatchEmpty := true
	for i, m := range s.Matchers {
		if m.Name == "" || !utf8.ValidString(m.Name) {
			return "", fmt.Errorf("%w: matcher %d: invalid label name %q", ErrInvalid, i, m.Name)
		}
		empty := m.IsEqual && m.Value == ""
		if m.IsRegex {
			re, err := regexp.Compile("^(?:" + m.Value + ")$")
			if err != nil {
				return "", fmt.Errorf("%w: matcher %d: invalid regular expression %q: %v", ErrInvalid, i, m.Value, err)
			}
			empty = m.IsEqual && re.MatchString("")
		} else if !utf8.ValidString(m.Value) {
			return "", fmt.Errorf("%w: matcher %d: invalid label value %q", ErrInvalid, i, m.Value)
		}
		// As in Alertmanager, only = and =~ count as matching the empty
		// string (an absent label): a silence of nothing but those would
		// mute every alert lacking the labels.
		allMatchEmpty = allMatchEmpty && empty
	}
	if allMatchEmpty {
		return "", fmt.Errorf("%w: at least one matcher must not match the empty string", ErrInvalid)
	}
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	if s.EndsAt.IsZero() {
		return "", fmt.Errorf("%w: a silence needs an end time", ErrInvalid)
	}
	// Compare what will be stored: microseconds.
	if s.EndsAt.UnixMicro() <= s.StartsAt.UnixMicro() {
		return "", fmt.Errorf("%w: silence ends at %s, not after its start %s", ErrInvalid,
			s.EndsAt.Format(time.RFC3339Nano), s.StartsAt.Format(time.RFC3339Nano))
	}
	b, err := json.Marshal(s.Matchers)
	return string(b), err
}

// newSilenceID returns a random (version 4) UUID, the form of
// Alertmanager's silence ids.
func newSilenceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: since Go 1.24 it crashes instead
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// CreateSilence stores a new silence under a fresh id and returns it as
// stored. in.ID must be empty (updates go through UpdateSilence); a zero
// StartsAt means now. Validation errors wrap ErrInvalid.
func (s *Store) CreateSilence(ctx context.Context, in Silence) (out Silence, err error) {
	defer s.op("create_silence", &err)()
	if err = s.checkOpen(); err != nil {
		return out, err
	}
	if in.ID != "" {
		return out, fmt.Errorf("%w: a new silence must not have an id (got %q)", ErrInvalid, in.ID)
	}
	now := nowUTC()
	matchers, err := validateSilence(&in, now)
	if err != nil {
		return out, err
	}
	return scanSilence(s.w.QueryRowContext(ctx, s.d.rebind(`INSERT INTO silences (id, matchers, starts_at,
		ends_at, created_by, comment, changed_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+silenceCols),
		newSilenceID(), matchers, in.StartsAt.UnixMicro(), in.EndsAt.UnixMicro(), in.CreatedBy, in.Comment, in.ChangedBy,
		now.UnixMicro(), now.UnixMicro()))
}

// UpdateSilence replaces the matchers, times, author and comment of the
// silence in.ID in place (created_at is kept) and returns it; ErrNotFound
// if there is none. It is deliberately simpler than Alertmanager, which
// keeps history: there, changing the matchers or the start of an active
// silence, or touching an expired one, expires the old silence and creates
// a new one with a new id. A caller wanting that does GetSilence,
// ExpireSilence and CreateSilence itself.
func (s *Store) UpdateSilence(ctx context.Context, in Silence) (out Silence, err error) {
	defer s.op("update_silence", &err)()
	if err = s.checkOpen(); err != nil {
		return out, err
	}
	now := nowUTC()
	matchers, err := validateSilence(&in, now)
	if err != nil {
		return out, err
	}
	return scanSilence(s.w.QueryRowContext(ctx, s.d.rebind(`UPDATE silences SET matchers = ?, starts_at = ?,
		ends_at = ?, created_by = ?, comment = ?, changed_by = ?, updated_at = ? WHERE id = ? RETURNING `+silenceCols),
		matchers, in.StartsAt.UnixMicro(), in.EndsAt.UnixMicro(), in.CreatedBy, in.Comment, in.ChangedBy, now.UnixMicro(), in.ID))
}

// GetSilence returns one silence or ErrNotFound.
func (s *Store) GetSilence(ctx context.Context, id string) (out Silence, err error) {
	defer s.op("get_silence", &err)()
	if err = s.checkOpen(); err != nil {
		return out, err
	}
	return scanSilence(s.r.QueryRowContext(ctx, s.d.rebind("SELECT "+silenceCols+" FROM silences WHERE id = ?"), id))
}

// SilenceFilter selects silences by their state at Now (zero: the current
// time); an empty State lists all.
type SilenceFilter struct {
	State string
	Now   time.Time
}

// ListSilences returns the matching silences in Alertmanager's API order:
// active (next to end first), then pending (next to start first), then
// expired (most recently ended first). There is no paging: expired
// silences are bounded by PruneSilences, as Alertmanager's retention.
func (s *Store) ListSilences(ctx context.Context, f SilenceFilter) (items []Silence, err error) {
	defer s.op("list_silences", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, err
	}
	now := f.Now
	if now.IsZero() {
		now = nowUTC()
	}
	// Stored times are whole microseconds, so truncating now keeps every
	// comparison identical to Silence.State's.
	t := now.UnixMicro()
	var w where
	switch f.State {
	case "":
	case SilenceStatePending:
		w.add("starts_at > ?", t)
	case SilenceStateActive:
		w.add("ends_at > ? AND starts_at <= ?", t, t)
	case SilenceStateExpired:
		w.add("ends_at <= ?", t)
	default:
		return nil, fmt.Errorf("%w: unknown silence state %q", ErrInvalid, f.State)
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind("SELECT "+silenceCols+" FROM silences"+w.String()), w.args...)
	if err != nil {
		return nil, err
	}
	if items, err = collect(rows, scanSilence); err != nil {
		return nil, err
	}
	sortSilences(items, now)
	return items, nil
}

var silenceStateOrder = map[string]int{SilenceStateActive: 0, SilenceStatePending: 1, SilenceStateExpired: 2}

// sortSilences orders as Alertmanager's api/v2 SortSilences, with the id
// as the last key so equal times list the same way on both backends.
func sortSilences(items []Silence, now time.Time) {
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i], items[j]
		sa, sb := a.State(now), b.State(now)
		if sa != sb {
			return silenceStateOrder[sa] < silenceStateOrder[sb]
		}
		var ta, tb time.Time
		switch sa {
		case SilenceStateActive:
			ta, tb = a.EndsAt, b.EndsAt
		case SilenceStatePending:
			ta, tb = a.StartsAt, b.StartsAt
		case SilenceStateExpired:
			ta, tb = b.EndsAt, a.EndsAt // most recent first
		}
		if !ta.Equal(tb) {
			return ta.Before(tb)
		}
		return a.ID < b.ID
	})
}

// ExpireSilence ends the silence at now and returns it: an active one gets
// EndsAt = now; a pending one gets StartsAt = EndsAt = now, as in
// Alertmanager, so it never becomes active. An already expired silence is
// ErrConflict (Alertmanager returns success there; the API may map the
// conflict back to that); an unknown id is ErrNotFound. The conditional
// UPDATE makes exactly one of two racing expiries win.
func (s *Store) ExpireSilence(ctx context.Context, id string, now time.Time, by string) (out Silence, err error) {
	defer s.op("expire_silence", &err)()
	if err = s.checkOpen(); err != nil {
		return out, err
	}
	t := now.UnixMicro()
	out, err = scanSilence(s.w.QueryRowContext(ctx, s.d.rebind(`UPDATE silences SET
		starts_at = CASE WHEN starts_at > ? THEN ? ELSE starts_at END, ends_at = ?, changed_by = ?, updated_at = ?
		WHERE id = ? AND ends_at > ? RETURNING `+silenceCols), t, t, t, by, nowUTC().UnixMicro(), id, t))
	if err != sql.ErrNoRows {
		return out, err
	}
	var ends sql.NullInt64
	if err = s.r.QueryRowContext(ctx, s.d.rebind("SELECT ends_at FROM silences WHERE id = ?"), id).Scan(&ends); err != nil {
		return out, err // sql.ErrNoRows becomes ErrNotFound
	}
	return out, fmt.Errorf("%w: silence %s expired at %s", ErrConflict, id, goTime(ends).Format(time.RFC3339Nano))
}

// PruneSilences deletes silences that ended before olderThan (the
// receiver's retention, Alertmanager's --data.retention) and returns how
// many it deleted.
func (s *Store) PruneSilences(ctx context.Context, olderThan time.Time) (n int64, err error) {
	defer s.op("prune_silences", &err)()
	if err = s.checkOpen(); err != nil {
		return 0, err
	}
	res, err := s.exec(ctx, "DELETE FROM silences WHERE ends_at < ?", olderThan.UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
