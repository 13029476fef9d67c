package relay

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the relay's Prometheus metrics, on a registry of their own
// so several servers can run in one process.
type metrics struct {
	reg         *prometheus.Registry
	connections prometheus.Gauge
	uploads     prometheus.Counter
	uploadBytes prometheus.Counter
	duplicates  prometheus.Counter
	errors      *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vm_relay_connections", Help: "Client connections open now.",
		}),
		uploads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vm_relay_uploads_stored_total", Help: "Messages stored durably.",
		}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vm_relay_upload_bytes_total", Help: "Bytes of Ogg Opus files stored.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vm_relay_upload_duplicates_total", Help: "Uploads of messages that were stored already.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vm_relay_errors_total", Help: "Error responses sent to clients, by protocol error code.",
		}, []string{"code"}),
	}
	m.reg.MustRegister(m.connections, m.uploads, m.uploadBytes, m.duplicates, m.errors,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}
