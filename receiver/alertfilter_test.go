package receiver

import (
	"net/url"
	"testing"

	"github.com/prometheus/common/model"
)

func TestAlertFilter(t *testing.T) {
	ls := model.LabelSet{"alertname": "A", "severity": "warning"}
	silenced, inhibited := []string{"s1"}, []string{"fp"}
	for _, tc := range []struct {
		query                      string
		plain, silenced, inhibited bool // what passes: an active alert, a silenced one, an inhibited one
	}{
		{"", true, true, true},
		{"active=false", false, true, true},
		{"silenced=false&inhibited=false", true, false, false},
		{"active=true&silenced=false&inhibited=false&unprocessed=false", true, false, false},
		{"filter=severity%3D%22warning%22", true, true, true},
		{"filter=severity%3D%22critical%22", false, false, false},
		{"filter=alertname%3D~%22A%7CB%22&filter=team%3D%22%22", true, true, true},
		{"filter=team!%3D%22%22", false, false, false},
	} {
		q, _ := url.ParseQuery(tc.query)
		f, err := parseAlertFilter(q)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		if got := [3]bool{f.takes(ls, nil, nil), f.takes(ls, silenced, nil), f.takes(ls, nil, inhibited)}; got != [3]bool{tc.plain, tc.silenced, tc.inhibited} {
			t.Errorf("%s: active, silenced, inhibited pass %v", tc.query, got)
		}
	}
	q, _ := url.ParseQuery("receiver=team|ops")
	f, _ := parseAlertFilter(q)
	if !f.receiverTakes("x", "ops") || f.receiverTakes("opsteam") || f.receiverTakes() {
		t.Error("the receiver regex is not anchored or not any-of")
	}
	for _, bad := range []string{"filter=foo%3D~%22(%22", "receiver=(", "silenced=nope", "filter=%3D%3D"} {
		q, _ := url.ParseQuery(bad)
		if _, err := parseAlertFilter(q); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
