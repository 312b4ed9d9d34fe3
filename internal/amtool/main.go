// Command amtool is Alertmanager's amtool built from the pinned
// alertmanager module, so tests drive the real client against gatewarden
// without downloading it.
package main

import "github.com/prometheus/alertmanager/cli"

func main() { cli.Execute() }
