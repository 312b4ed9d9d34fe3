package throttle

import (
	"fmt"
	"maps"
	"strconv"
	"time"
)

// Notice is one alert of the throttle in Alertmanager's model: the
// exported fields of receiver.Alert (and of Alertmanager's API v2 alert),
// so the daemon hands it to either field for field.
type Notice struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Alert names and the status label's values.
const (
	AlertName           = "PluginAutoThrottle"
	GovernanceAlertName = "PluginAutoThrottleFalsePositives"

	StatusAutoThrottled = "AUTO_THROTTLED"
	StatusFailed        = "FAILED"
	StatusRecovered     = "RECOVERED"
	// StatusAlertOnly is a decision not to throttle an anomaly (exempt,
	// blast-radius cap, limit already low): the operators and the plugin
	// owner still hear of it, without the page a FAILED would be.
	StatusAlertOnly = "ALERT_ONLY"
	// StatusGovernance: too many decisions marked false positive.
	StatusGovernance = "GOVERNANCE"
)

// Severity label values: levels 1, 2 and 3.
const (
	sevCritical = "critical"
	sevWarning  = "warning"
	sevInfo     = "info"
)

// How long one-shot notices stay firing: long enough for every group_wait,
// so the receiver sends them; they are news, not a state to resolve.
const (
	recoveredFor  = 5 * time.Minute
	governanceFor = 24 * time.Hour
)

// text is one message in both languages of the receiver's templates.
type text struct{ en, zh string }

const (
	titleEN = "CPU anomaly auto-throttle"
	titleZH = "CPU 异常自动限流"
)

// reasonText explains a reason code in both languages.
func reasonText(code, detail string) text {
	var t text
	switch code {
	case "exempt":
		t = text{"exempt by the throttle policy", "命中限流策略豁免名单"}
	case "blast_radius":
		t = text{"the blast-radius cap is reached (" + detail + ")", "已达影响范围上限（" + detail + "）"}
	case "already_limited":
		t = text{"its limit is already at or below the throttle's", "其并发上限已不高于限流值"}
	case "unsupported":
		t = text{"the gateway cannot throttle this plugin (" + detail + "): manual handling required", "网关不支持对该插件限流（" + detail + "），需要人工处理"}
	case "escalated":
		t = text{"CPU is still high at the lowest step (" + detail + "): manual handling required", "已降至最低档位 CPU 仍偏高（" + detail + "），需要人工处理"}
	case "recovered":
		t = text{"CPU stayed under the recovery threshold for the stable window", "CPU 在稳定窗口内持续低于恢复阈值"}
	case "manual":
		t = text{"released by " + detail, "由 " + detail + " 手动解除"}
	case "automation_disabled":
		t = text{"the automation is disabled (by " + detail + ")", "自动限流已关闭（由 " + detail + " 关闭）"}
	case "reconcile":
		t = text{"reconcile: " + detail, "对账：" + detail}
	case "expired":
		t = text{"its TTL lapsed at the gateway", "限流已在网关到期"}
	default:
		t = text{detail, detail}
	}
	return t
}

func (c *Controller) notice(status, severity string, inst Instance, at, ends time.Time, summary text, extra map[string]string) Notice {
	n := Notice{
		Labels: map[string]string{
			"alertname": AlertName, "status": status, "severity": severity, "type": "throttle",
			"tenant_id": inst.TenantID, "plugin_id": inst.PluginID, "instance_id": inst.InstanceID,
		},
		Annotations: map[string]string{
			"title": titleEN, "title_zh": titleZH,
			"summary_en": summary.en, "summary_zh": summary.zh,
		},
		StartsAt: at, EndsAt: ends, GeneratorURL: c.o.ExternalURL,
	}
	n.Annotations["summary"] = summary.en
	if c.o.Language == "zh" {
		n.Annotations["summary"] = summary.zh
	}
	for k, v := range extra {
		n.Annotations[k] = v
	}
	return n
}

func throttledText(inst Instance, limit, prev int, ttl time.Duration, dry bool) text {
	was := ""
	wasZH := ""
	if prev > 0 {
		was, wasZH = fmt.Sprintf(" (was %d)", prev), fmt.Sprintf("（原为 %d）", prev)
	}
	if dry {
		return text{
			fmt.Sprintf("%s (dry run): %s would be limited to max_concurrency %d%s; nothing was changed.", titleEN, inst, limit, was),
			fmt.Sprintf("%s（演练）：%s 将被限制为 max_concurrency %d%s，未实际执行。", titleZH, inst, limit, wasZH),
		}
	}
	return text{
		fmt.Sprintf("%s: %s limited to max_concurrency %d%s for %s.", titleEN, inst, limit, was, ttl),
		fmt.Sprintf("%s：%s 的 max_concurrency 已限制为 %d%s，有效期 %s。", titleZH, inst, limit, wasZH, ttl),
	}
}

func failedText(inst Instance, why text) text {
	return text{
		fmt.Sprintf("%s failed for %s: %s.", titleEN, inst, why.en),
		fmt.Sprintf("%s失败：%s，原因：%s。", titleZH, inst, why.zh),
	}
}

func releasedText(inst Instance, why text) text {
	return text{
		fmt.Sprintf("%s released for %s: %s.", titleEN, inst, why.en),
		fmt.Sprintf("%s已解除：%s，%s。", titleZH, inst, why.zh),
	}
}

func alertOnlyText(inst Instance, why text) text {
	return text{
		fmt.Sprintf("%s: %s has a CPU anomaly and was not throttled: %s.", titleEN, inst, why.en),
		fmt.Sprintf("%s：%s CPU 异常，未限流：%s。", titleZH, inst, why.zh),
	}
}

// resolvedNotice is n ended at at, with maps of its own: the one sent
// earlier may still be in a receiver's hands.
func resolvedNotice(n Notice, at time.Time) Notice {
	n.Labels, n.Annotations, n.EndsAt = maps.Clone(n.Labels), maps.Clone(n.Annotations), at
	return n
}

func idAnnotations(id int64, limit, prev int, reason string) map[string]string {
	m := map[string]string{"reason": reason}
	if id != 0 {
		m["throttle_id"] = strconv.FormatInt(id, 10)
	}
	if limit > 0 {
		m["max_concurrency"] = strconv.Itoa(limit)
	}
	if prev > 0 {
		m["previous_max_concurrency"] = strconv.Itoa(prev)
	}
	return m
}
