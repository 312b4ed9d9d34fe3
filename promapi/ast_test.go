package promapi

import (
	"encoding/json"
	"testing"
)

func TestFormatQuery(t *testing.T) {
	f := newFixture(t)
	f.get(t, "/api/v1/format_query", vals("query", `sum by(job)(rate(up{job="gateway"}[5m]))`)).
		expect(t, 200, `{"status":"success","data":"sum by (job) (rate(up{job=\"gateway\"}[5m]))"}`)
	f.post(t, "/api/v1/format_query", vals("query", "1+1")).expect(t, 200, `{"status":"success","data":"1 + 1"}`)
	f.get(t, "/api/v1/format_query", vals("query", "sum(")).
		expectError(t, 400, "bad_data", `invalid parameter "query": 1:5: parse error: unclosed left parenthesis`)
}

func TestParseQuery(t *testing.T) {
	f := newFixture(t)
	r := f.get(t, "/api/v1/parse_query", vals("query", `sum without(instance)(rate(up{job="gateway"}[5m] offset 1m)) > on(job) group_left 2 * -x @ end()`))
	if r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	var got struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	want := `{"bool":false,"lhs":{"expr":{"args":[{"anchored":false,"matchers":[{"name":"job","type":"=","value":"gateway"},{"name":"__name__","type":"=","value":"up"}],"name":"up","offset":60000,"offsetExpr":null,"range":300000,"rangeExpr":null,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"matrixSelector"}],"func":{"argTypes":["matrix"],"name":"rate","returnType":"vector","variadic":0},"type":"call"},"grouping":["instance"],"op":"sum","param":null,"type":"aggregation","without":true},"matching":{"card":"many-to-one","fillValues":{"lhs":null,"rhs":null},"include":[],"labels":["job"],"on":true},"op":"\u003e","rhs":{"bool":false,"lhs":{"type":"numberLiteral","val":"2"},"matching":null,"op":"*","rhs":{"expr":{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"x"}],"name":"x","offset":0,"offsetExpr":null,"smoothed":false,"startOrEnd":"end","timestamp":null,"type":"vectorSelector"},"op":"-","type":"unaryExpr"},"type":"binaryExpr"},"type":"binaryExpr"}`
	if b, _ := json.Marshal(got.Data); string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}
