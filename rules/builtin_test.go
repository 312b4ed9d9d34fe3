package rules

import "testing"

func TestBuiltinPackIsValid(t *testing.T) {
	gs, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, g := range gs.Groups {
		for _, r := range g.Rules {
			names[r.Name()] = true
		}
	}
	for _, want := range []string{"GatewayBudgetStep", "GatewayErrorRate", "GatewayLatencyP95", "GatewayQuotaRPM", "GatewayQuotaTPM", "GatewayTrafficSpike", "GatewayNoData", "PluginCPUHigh"} {
		if !names[want] {
			t.Errorf("built-in pack lacks %s", want)
		}
	}
}
