/* benchdefs: a generated definition set validated for a bench program (the ones
 * linked with libstanding; benchutil stays free of it for bench/load). */
#pragma once
#include <stddef.h>
#include "lib/defs/defs.h"

/* standingd.yaml and one orders file, validated; dies with the first ten errors
 * ("PROGRAM: FILE:LINE:COL: message") when they do not validate. */
defs *bench_defs_load(const char *config, size_t config_len, const char *orders, size_t orders_len);
