/* loopstat: the longest single step of the event loop, measured by the loop itself.
 * A step is everything one loop iteration runs outside its poll: the wall time
 * between two prepare callbacks minus the time spent idle in the poll between them
 * (libuv's idle-time metric). Reported in io.standingd.Ops.Status as
 * max_loop_step_ms; the budget is 50 ms (doc/decisions.md). The same step's CPU
 * time on the loop's thread (CLOCK_THREAD_CPUTIME_ID) is max_loop_step_cpu_ms:
 * what the step itself costs, without the time the kernel gave other processes
 * meanwhile (the tests hold it to the budget: their machines are shared). */
#pragma once
#include <stdint.h>
#include <uv.h>

typedef struct loopstat {
	uv_prepare_t prepare;
	uint64_t last_ns, last_idle_ns;   /* at the previous prepare; 0: none yet */
	uint64_t max_ns;
	uint64_t last_cpu_ns, max_cpu_ns;
} loopstat;

/* Call before the loop first runs (it switches on libuv's idle-time metric). The
 * handle does not keep the loop alive; uv_walk closes it with the others. */
int loopstat_start(loopstat *s, uv_loop_t *loop);
/* The longest step seen so far, in milliseconds. */
double loopstat_max_ms(const loopstat *s);
/* The most CPU time one step took on the loop's thread, in milliseconds. */
double loopstat_max_cpu_ms(const loopstat *s);
