package relay

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the relay's Prometheus metrics, on a registry of their own
// so several servers can run in one process. The per-reason counters of
// the live path are resolved once, so counting a datagram takes no map
// lookup.
type metrics struct {
	reg         *prometheus.Registry
	connections prometheus.Gauge
	// connectionsRejected counts connections closed for the connection
	// limit.
	connectionsRejected prometheus.Counter
	uploads             prometheus.Counter
	uploadBytes         prometheus.Counter
	duplicates          prometheus.Counter
	errors              *prometheus.CounterVec

	subscribers prometheus.Gauge
	talks       prometheus.Gauge
	feedsLagged prometheus.Counter

	datagramsIn        prometheus.Counter
	datagramsTooLarge  prometheus.Counter
	datagramsMalformed prometheus.Counter
	datagramsUnknown   prometheus.Counter
	datagramsInvalid   prometheus.Counter
	datagramsDuplicate prometheus.Counter

	datagramsSent   prometheus.Counter
	fanoutQueueFull prometheus.Counter
	fanoutSendError prometheus.Counter
	fanoutTooLarge  prometheus.Counter
}

func newMetrics() *metrics {
	ignored := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vm_relay_datagrams_ignored_total",
		Help: "Datagrams from clients that the relay did not forward, by reason; duplicate counts copies of frames forwarded already and frames after their upload ended.",
	}, []string{"reason"})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vm_relay_fanout_dropped_total",
		Help: "Datagrams not sent to a listener, by reason.",
	}, []string{"reason"})
	m := &metrics{
		reg: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vm_relay_connections", Help: "Client connections open now.",
		}),
		connectionsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vm_relay_connections_rejected_total", Help: "Client connections closed at once because the relay had its maximum open.",
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
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vm_relay_subscribers", Help: "Connections with an event feed open now.",
		}),
		talks: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vm_relay_live_talks", Help: "Live transmissions in progress.",
		}),
		feedsLagged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vm_relay_feeds_lagged_total", Help: "Event feeds ended because the client read too slowly.",
		}),
		datagramsIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vm_relay_datagrams_received_total", Help: "Datagrams received from clients.",
		}),
		datagramsTooLarge:  ignored.WithLabelValues("too_large"),
		datagramsMalformed: ignored.WithLabelValues("malformed"),
		datagramsUnknown:   ignored.WithLabelValues("unknown_handle"),
		datagramsInvalid:   ignored.WithLabelValues("invalid_frame"),
		datagramsDuplicate: ignored.WithLabelValues("duplicate"),
		datagramsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vm_relay_datagrams_sent_total", Help: "Datagrams sent to listeners.",
		}),
		fanoutQueueFull: dropped.WithLabelValues("queue_full"),
		fanoutSendError: dropped.WithLabelValues("send_error"),
		fanoutTooLarge:  dropped.WithLabelValues("too_large"),
	}
	m.reg.MustRegister(m.connections, m.connectionsRejected, m.uploads, m.uploadBytes, m.duplicates, m.errors,
		m.subscribers, m.talks, m.feedsLagged, m.datagramsIn, ignored, m.datagramsSent, dropped,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}
