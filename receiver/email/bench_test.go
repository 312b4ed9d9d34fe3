package email

import (
	"context"
	"testing"
)

func BenchmarkNotify(b *testing.B) {
	for _, bc := range []struct {
		name string
		mode tlsMode
	}{{"plain", noTLS}, {"starttls+auth", startTLS}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := startServer(b, &backend{discard: true}, bc.mode, false)
			cfg := plainConfig(srv.addr)
			if bc.mode == startTLS {
				cfg = authConfig(cfg, testPassword)
				cfg.RequireTLS, cfg.TLSConfig.CAFile = nil, srv.caFile
			}
			n, err := New(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			m := sample("zh")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := n.Notify(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
