package route

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// goldenFile holds what Alertmanager v0.34.2 itself does with trees and
// alerts, written by the differential test (diff_test.go, tag amdiff), so
// that gatewarden is held to Alertmanager even where Alertmanager's config
// package cannot be built.
const goldenFile = "testdata/alertmanager-v0.34.2.json"

func TestMatchesAlertmanagerGolden(t *testing.T) {
	b, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	var golden map[string]result
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	for _, tc := range trees {
		t.Run(tc.name, func(t *testing.T) {
			want, ok := golden[tc.name]
			if !ok {
				t.Fatalf("no Alertmanager result for this tree in %s: regenerate it as diff_test.go says", goldenFile)
			}
			gw, err := loadGatewarden(t, tc.yaml)
			if err != nil {
				t.Fatal(err)
			}
			compareResults(t, observe(gw), want)
		})
	}
}

func compareResults(t *testing.T, got, want result) {
	t.Helper()
	if !reflect.DeepEqual(got.Alerts, want.Alerts) {
		t.Fatalf("the alerts differ from the ones Alertmanager routed: regenerate %s as diff_test.go says", goldenFile)
	}
	if !reflect.DeepEqual(got.Routes, want.Routes) {
		t.Errorf("routes differ\ngatewarden:   %s\nalertmanager: %s", dump(got.Routes), dump(want.Routes))
	}
	for i := range got.Alerts {
		if !reflect.DeepEqual(got.Deliveries[i], want.Deliveries[i]) {
			t.Errorf("alert %s\ngatewarden:   %s\nalertmanager: %s", got.Alerts[i], dump(got.Deliveries[i]), dump(want.Deliveries[i]))
		}
	}
	if !reflect.DeepEqual(got.Groups, want.Groups) {
		t.Errorf("groups differ\ngatewarden:   %s\nalertmanager: %s", dump(got.Groups), dump(want.Groups))
	}
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return strings.TrimSpace(string(b))
}
