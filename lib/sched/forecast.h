/* forecast: the occurrences of all standing orders whose delivery lies in a
 * window of local dates [from 00:00, to 00:00), each window bound taken in the
 * schedule's own zone; the same rule code the engine uses. Paused standing
 * orders have no forecast. Sorted by delivery instant, then standing order id. */
#pragma once
#include <stddef.h>
#include "lib/defs/defs.h"

typedef struct forecast_item {
	const standing_order *so;
	occurrence occ;
} forecast_item;

typedef struct forecast {
	forecast_item *v;
	size_t n, cap;
	size_t limit;          /* 0: none; else collecting more fails with -E2BIG */
} forecast;

/* from_day/to_day: civil days. Items are appended; 0, -ENOMEM, or -E2BIG past f->limit. The list
 * points into defs: it must not outlive it. limit 0 = no limit per order. */
int forecast_collect(const defs *d, int64_t from_day, int64_t to_day, forecast *ret);
/* Same window for one standing order (used by diff / the socket API). */
int forecast_order(const standing_order *so, int64_t from_day, int64_t to_day, forecast *ret);
void forecast_sort(forecast *f);
void forecast_clear(forecast *f);
