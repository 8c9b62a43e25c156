#include "daemon/standingd/loopstat.h"

static void on_prepare(uv_prepare_t *h) {
	loopstat *s = h->data;
	uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(h->loop);
	if (s->last_ns) {
		uint64_t wall = now - s->last_ns, waited = idle - s->last_idle_ns;
		uint64_t busy = wall > waited ? wall - waited : 0;
		if (busy > s->max_ns)
			s->max_ns = busy;
	}
	s->last_ns = now;
	s->last_idle_ns = idle;
}

int loopstat_start(loopstat *s, uv_loop_t *loop) {
	*s = (loopstat) { .max_ns = 0 };
	int r = uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
	if (r < 0)
		return r;
	if ((r = uv_prepare_init(loop, &s->prepare)) < 0)
		return r;
	s->prepare.data = s;
	uv_unref((uv_handle_t *) &s->prepare);
	return uv_prepare_start(&s->prepare, on_prepare);
}

double loopstat_max_ms(const loopstat *s) {
	return (double) s->max_ns / 1e6;
}
