package ledgertest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// What one history leaves behind, gathered by the runner (or written by
// hand in the checker's unit tests) and judged by check.

// histConfig is what the checker needs of the daemon's configuration.
type histConfig struct {
	Cooldown      time.Duration
	GroupWait     time.Duration
	GroupInterval time.Duration
	// Channels every alert's route reaches, by name (<receiver>/webhook/<i>).
	Channels []string
	Peers    int // daemons sharing the store
}

// The inhibit rule every history configures.
const (
	inhibitSource   = "Source"  // alertname of the source
	inhibitSeverity = "warning" // severity of the targets
	inhibitEqual    = "master"
)

const channelFailing = "GatewardenChannelFailing"

type silenceRec struct {
	ID       string
	Matchers map[string]string // equality matchers
	Created  time.Time         // when the API answered
	Expired  time.Time         // zero: not expired in the history
}

func (s silenceRec) matches(ls model.LabelSet) bool {
	for k, v := range s.Matchers {
		if string(ls[model.LabelName(k)]) != v {
			return false
		}
	}
	return true
}

// Event kinds.
const (
	evKill   = "kill"
	evStop   = "stop"
	evStart  = "start"
	evReload = "reload"
)

type eventRec struct {
	Kind   string
	Daemon int
	At     time.Time // when it began
	Done   time.Time // when it took effect (ready, reloaded)
	Suffix string    // reload: the URL suffix it moved the channels to
}

// entry is one history item of GET /admin/alert-history. The ledger
// fields are optional in the decoding so that an old binary's entries are
// reported as lacking them instead of failing the decode.
type entry struct {
	ID          int64           `json:"id"`
	AlertID     int64           `json:"alert_id"`
	ChannelID   int64           `json:"channel_id"`
	TriggeredAt *int64          `json:"triggered_at"`
	Payload     json.RawMessage `json:"payload"`
	Status      string          `json:"status"`
	Error       string          `json:"error"`
	Attempt     int             `json:"attempt"`
	Fingerprint string          `json:"fingerprint"`
	Transition  string          `json:"transition"`
	StartsAt    *int64          `json:"starts_at"`
	Episode     string          `json:"episode"`
	OutboxID    int64           `json:"outbox_id"`
	Peer        string          `json:"peer"`
}

func (e *entry) String() string {
	s := fmt.Sprintf("history %d: channel %d %s %s episode %s status %s", e.ID, e.ChannelID, e.Fingerprint, e.Transition, e.Episode, e.Status)
	if e.Error != "" {
		s += fmt.Sprintf(" (%s)", e.Error)
	}
	if e.OutboxID != 0 {
		s += fmt.Sprintf(" outbox %d", e.OutboxID)
	}
	if e.Peer != "" {
		s += " peer " + e.Peer
	}
	if e.TriggeredAt != nil {
		s += " at " + time.Unix(*e.TriggeredAt, 0).UTC().Format("15:04:05")
	}
	if e.Fingerprint == "" && len(e.Payload) > 0 {
		s += " payload " + string(e.Payload)
	}
	return s
}

// keyed reports whether the entry carries the ledger's fields.
func (e *entry) keyed() bool { return e.Fingerprint != "" && e.Transition != "" && e.Episode != "" }

// decided is the latest moment the entry's outcome can have been decided.
func (e *entry) decided(end time.Time) time.Time {
	if e.TriggeredAt != nil {
		return time.Unix(*e.TriggeredAt+1, 0) // whole seconds, rounded down
	}
	return end
}

// webhookAlert and webhookBody are the part of Alertmanager's webhook
// payload v4 the checker reads.
type webhookAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Fingerprint string            `json:"fingerprint"`
}

type webhookBody struct {
	Version  string         `json:"version"`
	Status   string         `json:"status"`
	Receiver string         `json:"receiver"`
	GroupKey string         `json:"groupKey"`
	Alerts   []webhookAlert `json:"alerts"`
}

func (a webhookAlert) fp() string {
	if a.Fingerprint != "" {
		return a.Fingerprint
	}
	ls := model.LabelSet{}
	for k, v := range a.Labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return fingerprint(ls)
}

// receipt is one request the sink got.
type receipt struct {
	At       time.Time
	Path     string
	Channel  string // from the path: /<receiver>/<index>/<suffix>
	Suffix   string
	OutboxID int64 // X-Gatewarden-Notification; 0 if absent or not a number
	Header   string
	Code     int // what the sink answered
	Body     webhookBody
	BodyErr  string
}

func (r *receipt) accepted() bool { return r.Code >= 200 && r.Code < 300 }

func (r *receipt) String() string {
	var as []string
	for _, a := range r.Body.Alerts {
		as = append(as, fmt.Sprintf("%s{%s} %s startsAt %s", a.fp(), a.Labels["alertname"], a.Status, a.StartsAt.UTC().Format(time.RFC3339Nano)))
	}
	return fmt.Sprintf("%s %s header %q → %d: [%s]", r.At.UTC().Format("15:04:05.000"), r.Path, r.Header, r.Code, strings.Join(as, ", "))
}

// channelPath is where the sink serves a channel: /<receiver>/<index>/.
func channelPath(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) != 3 {
		return "/" + name + "/"
	}
	return "/" + parts[0] + "/" + parts[2] + "/"
}

// parsePath is channelPath's inverse, plus the suffix a reload moves.
func parsePath(p string) (channel, suffix string) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	if len(parts) != 3 {
		return "", ""
	}
	return parts[0] + "/webhook/" + parts[1], parts[2]
}

type observation struct {
	Cfg      histConfig
	Start    time.Time
	End      time.Time // quiesced
	Posts    []post
	Silences []silenceRec
	Events   []eventRec
	Failing  []span // the sink answered 500
	Entries  []entry
	Channels map[int64]string // id → name
	Receipts []receipt
	Suffix   string // the URL suffix at start
}

func (o *observation) kills() []time.Time {
	var out []time.Time
	for _, e := range o.Events {
		if e.Kind == evKill {
			out = append(out, e.At)
		}
	}
	return out
}

// restartedDuring reports whether any daemon stopped or was killed in
// [from, to]: its groups' timers started over.
func (o *observation) restartedDuring(from, to time.Time) bool {
	for _, e := range o.Events {
		if (e.Kind == evKill || e.Kind == evStop) && !e.At.Before(from) && !e.At.After(to) {
			return true
		}
	}
	return false
}

// violation is one breach of the contract.
type violation struct {
	Kind string
	Msg  string
}

// summarize groups violations by kind, with a few examples each.
func summarize(vs []violation, examples int) string {
	by := map[string][]string{}
	for _, v := range vs {
		by[v.Kind] = append(by[v.Kind], v.Msg)
	}
	kinds := make([]string, 0, len(by))
	for k := range by {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %s: %d\n", k, len(by[k]))
		for i, m := range by[k] {
			if i == examples {
				fmt.Fprintf(&b, "      … %d more\n", len(by[k])-examples)
				break
			}
			fmt.Fprintf(&b, "      %s\n", m)
		}
	}
	return b.String()
}
