package webhook

import amwebhook "github.com/prometheus/alertmanager/notify/webhook"

// amMessage is Alertmanager's own webhook payload type: what any consumer
// of Alertmanager's webhook decodes, so the tests decode with it.
type amMessage = amwebhook.Message
