/* tz: IANA time zones read from the system TZif database (v1/v2/v3, with the
 * POSIX TZ footer for instants past the last transition). No setenv("TZ"), no
 * tzset, no global state: a tz_db caches loaded zones and owns them.
 * Instants are int64 seconds since the Unix epoch (UTC); "local" values are
 * seconds since 1970-01-01 00:00 of the local wall clock (civil seconds). */
#pragma once
#include <stdint.h>

typedef struct tz_db tz_db;
typedef struct tz_zone tz_zone;

/* dir NULL: $TZDIR, else /usr/share/zoneinfo. */
tz_db *tz_db_new(const char *dir);
void tz_db_free(tz_db *db);
/* Load (or return the cached) zone. "UTC" always works, even without files.
 * -ENOENT unknown name, -EINVAL malformed file or name (no "..", no leading '/').
 * The zone lives as long as the db. */
int tz_db_get(tz_db *db, const char *name, const tz_zone **ret_zone);

const char *tz_zone_name(const tz_zone *z);
/* UTC offset in seconds (east positive) in force at instant t. */
int32_t tz_offset_at(const tz_zone *z, int64_t t);
/* The smallest UTC offset in force at any instant of [from, to] (from <= to). */
int32_t tz_offset_min(const tz_zone *z, int64_t from, int64_t to);
static inline int64_t tz_to_local(const tz_zone *z, int64_t t) { return t + tz_offset_at(z, t); }
/* Local wall-clock time -> instant. A time inside a spring-forward gap is moved
 * forward by the gap (02:30 in a 02:00->03:00 gap is 03:30 new time); a time that
 * exists twice (fall-back) takes the first (earlier) instant. Monotonic:
 * l1 <= l2 implies tz_from_local(l1) <= tz_from_local(l2).
 * Exception forced by the gap rule: a gap's times land up to one gap length past
 * the times right after it (02:59 -> 03:59 new time, 03:00 -> 03:00), so l1 in a
 * gap may give more than l2 after it; monotonic among existing local times. */
int64_t tz_from_local(const tz_zone *z, int64_t local);
