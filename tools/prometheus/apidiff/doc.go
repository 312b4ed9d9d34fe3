// Package apidiff holds a differential test: the same requests go to
// gatewarden's promapi and to Prometheus's own web/api/v1 handler, both
// serving one TSDB, and the answers' JSON must have the same keys.
//
// It lives in tools/prometheus, a module of its own, because importing
// web/api/v1 would pull Prometheus's router and OpenAPI dependencies into
// gatewarden's go.mod. The package has no code outside its tests.
package apidiff
