// Package templates renders notifications with Go templates and
// Alertmanager's template functions (toUpper, join, safeHtml, …). The
// default title, text and HTML messages are embedded in English and Chinese;
// files named under the receiver's `templates` may redefine any of them, as
// Alertmanager template files redefine its defaults.
package templates

import (
	"embed"
	"fmt"
	tmplhtml "html/template"
	"sync"
	tmpltext "text/template"

	"github.com/prometheus/alertmanager/template"

	"github.com/gatewarden/gatewarden/receiver/message"
)

//go:embed default.tmpl
var defaults embed.FS

// Languages the default templates are written in.
var Languages = []string{"en", "zh"}

// Templates renders messages. It is safe for concurrent use.
type Templates struct {
	t *template.Template
}

// New parses the embedded defaults, then the files matching each glob, so
// a user's file can redefine a default template by its name.
func New(globs ...string) (*Templates, error) {
	t, err := template.New(withDetail)
	if err != nil {
		return nil, err
	}
	f, err := defaults.Open("default.tmpl")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := t.Parse(f); err != nil {
		return nil, fmt.Errorf("default templates: %w", err)
	}
	for _, g := range globs {
		if err := t.FromGlob(g); err != nil {
			return nil, fmt.Errorf("templates %s: %w", g, err)
		}
	}
	return &Templates{t: t}, nil
}

// Alert is an alert with what the evaluator knew of it, for the alert
// templates: its fields are template.Alert's, and Detail is nil for an
// alert from another sender.
type Alert struct {
	template.Alert
	Detail *message.Detail
}

// withDetail adds the function `detailed`: `{{ template "x" (detailed .
// $.Details) }}` hands a template the alert with its detail.
func withDetail(text *tmpltext.Template, html *tmplhtml.Template) {
	f := map[string]any{"detailed": func(a template.Alert, ds map[string]message.Detail) Alert {
		out := Alert{Alert: a}
		if d, ok := ds[a.Fingerprint]; ok {
			out.Detail = &d
		}
		return out
	}}
	text.Funcs(f)
	html.Funcs(f)
}

// Default returns the embedded templates alone, parsed once; they are
// known to parse.
var Default = sync.OnceValue(func() *Templates {
	t, err := New()
	if err != nil {
		panic(err)
	}
	return t
})

func lang(m *message.Message) string {
	if m.Language == "zh" {
		return "zh"
	}
	return "en"
}

// Title is a one-line summary, for an email subject or a card header.
func (t *Templates) Title(m *message.Message) (string, error) {
	return t.ExecuteText(`{{ template "gatewarden.title.`+lang(m)+`" . }}`, m)
}

// Text is the plain-text body.
func (t *Templates) Text(m *message.Message) (string, error) {
	return t.ExecuteText(`{{ template "gatewarden.text.`+lang(m)+`" . }}`, m)
}

// HTML is the HTML body, escaped as html/template escapes.
func (t *Templates) HTML(m *message.Message) (string, error) {
	return t.ExecuteHTML(`{{ template "gatewarden.html.`+lang(m)+`" . }}`, m)
}

// ExecuteText renders a user's text template (a config field such as an
// email subject) against m.
func (t *Templates) ExecuteText(text string, m *message.Message) (string, error) {
	return t.t.ExecuteTextString(text, m)
}

// ExecuteHTML renders a user's HTML template against m.
func (t *Templates) ExecuteHTML(text string, m *message.Message) (string, error) {
	return t.t.ExecuteHTMLString(text, m)
}
