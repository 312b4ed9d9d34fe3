package feishu

import "fmt"

// words are the card's own strings; the title and the text fallback come
// from the templates.
type words struct {
	ack, source     string
	since, resolved string // label and separator: "Since: "
	more            string // a format for the number of alerts not shown
	// value, threshold and window label an alert's detail.
	value, threshold, window string
}

var dictionary = map[string]words{
	"en": {ack: "Acknowledge", source: "Source", since: "Since: ", resolved: "Resolved: ", more: "... and %d more",
		value: "Value: ", threshold: " · threshold ", window: " · window "},
	"zh": {ack: "确认", source: "来源", since: "开始于：", resolved: "恢复于：", more: "……另有 %d 条",
		value: "当前值：", threshold: " · 阈值 ", window: " · 窗口 "},
}

// wordsFor falls back to English as the templates do.
func wordsFor(lang string) words {
	if w, ok := dictionary[lang]; ok {
		return w
	}
	return dictionary["en"]
}

func (w words) moreText(n uint64) string { return fmt.Sprintf(w.more, n) }
