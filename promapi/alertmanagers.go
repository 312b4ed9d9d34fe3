package promapi

import (
	"net/http"
	"time"
)

// The shape of /alertmanagers: gatewarden drops none, but clients expect
// both lists.
type (
	alertmanagerDiscovery struct {
		Active  []alertmanagerTarget `json:"activeAlertmanagers"`
		Dropped []alertmanagerTarget `json:"droppedAlertmanagers"`
	}
	alertmanagerTarget struct {
		URL string `json:"url"`
	}
)

func (a *API) alertmanagers(*http.Request) result {
	out := alertmanagerDiscovery{Active: []alertmanagerTarget{}, Dropped: []alertmanagerTarget{}}
	if a.opts.Alertmanagers != nil {
		for _, u := range a.opts.Alertmanagers() {
			out.Active = append(out.Active, alertmanagerTarget{URL: u.String()})
		}
	}
	return success(out)
}

// notification is one of Prometheus's server notifications (a failed
// config reload, the rule manager falling behind). gatewarden logs those
// and shows them on its console, so the list is always empty; the type
// gives the empty list the element shape clients decode.
type notification struct {
	Text   string    `json:"text"`
	Date   time.Time `json:"date"`
	Active bool      `json:"active"`
}

func (a *API) notifications(*http.Request) result {
	return success([]notification{})
}
