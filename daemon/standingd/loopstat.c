#include "daemon/standingd/loopstat.h"

#include <time.h>

static uint64_t thread_cpu_ns(void) {
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void on_prepare(uv_prepare_t *h) {
	loopstat *s = h->data;
	uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(h->loop), cpu = thread_cpu_ns();
	if (s->last_ns) {
		/* the poll between two prepares costs next to no CPU */
		uint64_t step_cpu = cpu > s->last_cpu_ns ? cpu - s->last_cpu_ns : 0;
		if (step_cpu > s->max_cpu_ns)
			s->max_cpu_ns = step_cpu;
		uint64_t wall = now - s->last_ns, waited = idle - s->last_idle_ns;
		uint64_t busy = wall > waited ? wall - waited : 0;
		if (busy > s->max_ns)
			s->max_ns = busy;
	}
	s->last_ns = now;
	s->last_idle_ns = idle;
	s->last_cpu_ns = cpu;
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

double loopstat_max_cpu_ms(const loopstat *s) {
	return (double) s->max_cpu_ns / 1e6;
}
