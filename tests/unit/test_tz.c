/* test_tz: lib/tz against glibc's own TZif reader (localtime_r and mktime under
 * setenv("TZ") in this test process only), an independent implementation of the
 * same files, plus hand-made TZif files for the footer forms and malformed input.
 * STANDINGD_TEST_SEED=n replays a run; STANDINGD_TEST_QUICK=1 (valgrind) cuts the
 * random iterations 10x. Tests needing tzdata skip when it is not installed. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "lib/time/cal.h"
#include "lib/time/tz.h"

#define DAY CAL_SECS_PER_DAY
#define HOUR INT64_C(3600)
#define MAX_REPORTS 10

static const char *const glibc_zones[] = {
	"Europe/Helsinki", "Europe/Riga", "Europe/Oslo", "Asia/Ho_Chi_Minh",
	"America/New_York", "Australia/Lord_Howe", "UTC",
};
#define N_ZONES (sizeof(glibc_zones) / sizeof(glibc_zones[0]))

typedef struct transition {
	int64_t t; /* first second of the new offset */
	int32_t before, after;
} transition;

typedef struct zone_scan {
	transition *tr;
	size_t n, cap;
} zone_scan;

static struct {
	uint64_t seed, rng;
	bool quick, have_tzdata;
	char zonedir[512];
	zone_scan scan[N_ZONES];
} G;

/* ---- helpers ---- */

static uint64_t rnd(void) {
	/* splitmix64: good enough, and the same sequence everywhere. */
	uint64_t z = (G.rng += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static int64_t rnd_range(int64_t lo, int64_t hi) { /* inclusive */
	return lo + (int64_t) (rnd() % (uint64_t) (hi - lo + 1));
}

static int64_t civil(int32_t y, int32_t mo, int32_t d, int32_t h, int32_t mi, int32_t s) {
	return cal_days_from_civil(y, mo, d) * DAY + h * HOUR + mi * 60 + s;
}

static long iters(long n) {
	return G.quick ? n / 10 : n;
}

static void glibc_zone(const char *tz) {
	assert_int_equal(setenv("TZ", tz, 1), 0);
	tzset();
}

static void glibc_tm(int64_t t, struct tm *tm) {
	time_t tt = (time_t) t;
	assert_non_null(localtime_r(&tt, tm));
}

static int32_t glibc_off(int64_t t) {
	struct tm tm;
	glibc_tm(t, &tm);
	return (int32_t) tm.tm_gmtoff;
}

static int64_t glibc_local(int64_t t) {
	return t + glibc_off(t);
}

/* mktime(tm_isdst = -1) of a local wall time. */
static int64_t glibc_mktime(int64_t local) {
	cal_date d = cal_civil_from_days(cal_floordiv(local, DAY));
	int64_t s = cal_floormod(local, DAY);
	struct tm tm = {
		.tm_year = d.year - 1900, .tm_mon = d.month - 1, .tm_mday = d.day,
		.tm_hour = (int) (s / 3600), .tm_min = (int) (s / 60 % 60), .tm_sec = (int) (s % 60),
		.tm_isdst = -1,
	};
	return (int64_t) mktime(&tm);
}

static void scan_push(zone_scan *zs, int64_t t, int32_t before, int32_t after) {
	if (zs->n == zs->cap) {
		zs->cap = zs->cap ? zs->cap * 2 : 256;
		zs->tr = realloc(zs->tr, zs->cap * sizeof(*zs->tr));
		assert_non_null(zs->tr);
	}
	zs->tr[zs->n++] = (transition) { t, before, after };
}

/* Offset changes of the glibc zone in [from, to), found by stepping and bisecting
 * to the second. Restarting from each change also finds a second change that falls
 * within the same step. */
static void scan_range(zone_scan *zs, int64_t from, int64_t to, int64_t step) {
	int64_t t = from;
	int32_t off = glibc_off(t);
	while (t < to) {
		int64_t next = t + step;
		int32_t noff = glibc_off(next);
		if (noff == off) {
			t = next;
			continue;
		}
		int64_t lo = t, hi = next;
		while (hi - lo > 1) {
			int64_t mid = lo + (hi - lo) / 2;
			if (glibc_off(mid) == off)
				lo = mid;
			else
				hi = mid;
		}
		int32_t after = glibc_off(hi);
		if (hi < to)
			scan_push(zs, hi, off, after);
		t = hi;
		off = after;
	}
}

/* The independent oracle for tz_from_local, from glibc alone: every offset glibc has
 * within +-15 h of local (sampled every 30 min, changes bisected) is a candidate;
 * u = local - off is an answer when glibc maps u back to local; take the smallest
 * (first of a fold). With no answer, local is in a gap: use the offset in force
 * before the jump that skipped it. Returns false if neither applies. */
static bool oracle_from_local(int64_t local, int64_t *ret) {
	zone_scan zs = { 0 };
	int64_t from = local - 15 * HOUR, to = local + 15 * HOUR;
	int32_t first = glibc_off(from);
	scan_range(&zs, from, to, 1800);
	bool found = false;
	int64_t best = 0;
	for (size_t i = 0; i <= zs.n; i++) {
		int32_t off = i == 0 ? first : zs.tr[i - 1].after;
		int64_t u = local - off;
		if (glibc_local(u) == local && (!found || u < best)) {
			best = u;
			found = true;
		}
	}
	for (size_t i = 0; !found && i < zs.n; i++) {
		transition *tr = &zs.tr[i];
		if (tr->t + tr->before <= local && local < tr->t + tr->after) {
			best = local - tr->before;
			found = true;
		}
	}
	free(zs.tr);
	*ret = best;
	return found;
}

static void fmt_local(int64_t local, char *buf, size_t len) {
	cal_date d = cal_civil_from_days(cal_floordiv(local, DAY));
	int64_t s = cal_floormod(local, DAY);
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d", d.year, d.month, d.day,
		 (int) (s / 3600), (int) (s / 60 % 60), (int) (s % 60));
}

static tz_db *open_db(void) {
	tz_db *db = tz_db_new(NULL);
	assert_non_null(db);
	return db;
}

static const tz_zone *get_zone(tz_db *db, const char *name) {
	const tz_zone *z = NULL;
	int r = tz_db_get(db, name, &z);
	if (r < 0)
		print_error("tz_db_get(%s) = %d\n", name, r);
	assert_int_equal(r, 0);
	assert_non_null(z);
	assert_string_equal(tz_zone_name(z), name);
	return z;
}

static void need_tzdata(void) {
	if (!G.have_tzdata) {
		print_message("no tzdata in %s, skipping\n", G.zonedir);
		skip();
	}
}

static void write_file(const char *dir, const char *name, const void *buf, size_t len) {
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static uint8_t *slurp(const char *path, size_t *ret_len) {
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t *buf = malloc(1 << 20);
	assert_non_null(buf);
	*ret_len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

/* A scratch zone directory per test; removed in teardown, so also after a failure. */
static int tmpdir_setup(void **state) {
	static char tmpl[32];
	snprintf(tmpl, sizeof(tmpl), "/tmp/test_tz.XXXXXX");
	if (!mkdtemp(tmpl))
		return -1;
	*state = tmpl;
	return 0;
}

static int tmpdir_teardown(void **state) {
	char path[64];
	snprintf(path, sizeof(path), "%s/Zone", (const char *) *state);
	unlink(path);
	return rmdir((const char *) *state);
}

/* ---- a small TZif writer for hand-made zones ---- */

typedef struct tzif_spec {
	char version;             /* 0, '2', '3' */
	uint32_t n_trans, n_types, n_leap;
	const int64_t *trans;
	const uint8_t *idx;
	const int32_t *offs;
	const uint8_t *isdst;
	const char *footer;       /* v2+: the TZ string without newlines */
} tzif_spec;

typedef struct outbuf {
	uint8_t b[8192];
	size_t n;
} outbuf;

static void put(outbuf *o, const void *p, size_t n) {
	if (n == 0)
		return;
	assert_true(o->n + n <= sizeof(o->b));
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void put_be(outbuf *o, uint64_t v, int bytes) {
	for (int i = bytes - 1; i >= 0; i--) {
		uint8_t c = (uint8_t) (v >> (8 * i));
		put(o, &c, 1);
	}
}

static void put_block(outbuf *o, const tzif_spec *s, int tsize) {
	static const uint8_t zeros[15];
	put(o, "TZif", 4);
	put(o, &s->version, 1);
	put(o, zeros, 15);
	put_be(o, 0, 4);          /* isutcnt */
	put_be(o, 0, 4);          /* isstdcnt */
	put_be(o, s->n_leap, 4);
	put_be(o, s->n_trans, 4);
	put_be(o, s->n_types, 4);
	put_be(o, 4, 4);          /* charcnt: "ABC\0" */
	for (uint32_t i = 0; i < s->n_trans; i++)
		put_be(o, (uint64_t) s->trans[i], tsize);
	put(o, s->idx, s->n_trans);
	for (uint32_t i = 0; i < s->n_types; i++) {
		put_be(o, (uint32_t) s->offs[i], 4);
		put(o, &s->isdst[i], 1);
		put_be(o, 0, 1);
	}
	put(o, "ABC", 4);
	for (uint32_t i = 0; i < s->n_leap; i++) {
		put_be(o, (uint64_t) (78796800 + i), tsize);
		put_be(o, i + 1, 4);
	}
}

static void tzif_build(const tzif_spec *s, outbuf *o) {
	o->n = 0;
	put_block(o, s, 4);
	if (s->version == 0)
		return;
	put_block(o, s, 8);
	put(o, "\n", 1);
	put(o, s->footer, strlen(s->footer));
	put(o, "\n", 1);
}

/* ---- setup ---- */

static int group_setup(void **state) {
	(void) state;
	const char *q = getenv("STANDINGD_TEST_QUICK");
	G.quick = q && strcmp(q, "1") == 0;
	const char *s = getenv("STANDINGD_TEST_SEED");
	G.seed = s ? strtoull(s, NULL, 0) : UINT64_C(20250611);
	G.rng = G.seed;
	print_message("seed %" PRIu64 "%s (STANDINGD_TEST_SEED to replay)\n", G.seed,
		      G.quick ? ", quick" : "");
	const char *dir = getenv("TZDIR");
	snprintf(G.zonedir, sizeof(G.zonedir), "%s", dir && *dir ? dir : "/usr/share/zoneinfo");

	char path[600];
	snprintf(path, sizeof(path), "%s/Europe/Helsinki", G.zonedir);
	G.have_tzdata = access(path, R_OK) == 0;
	if (!G.have_tzdata)
		return 0;
	/* Every change 1990..2040 to the second (hourly steps), daily elsewhere in
	 * 1900..2100 where the transitions only steer the random samples. */
	int64_t y1900 = civil(1900, 1, 1, 0, 0, 0), y1990 = civil(1990, 1, 1, 0, 0, 0);
	int64_t y2041 = civil(2041, 1, 1, 0, 0, 0), y2101 = civil(2101, 1, 1, 0, 0, 0);
	int64_t fine = G.quick ? 12 * HOUR : HOUR;
	for (size_t i = 0; i < N_ZONES; i++) {
		glibc_zone(glibc_zones[i]);
		scan_range(&G.scan[i], y1900, y1990, DAY);
		scan_range(&G.scan[i], y1990, y2041, fine);
		scan_range(&G.scan[i], y2041, y2101, DAY);
	}
	return 0;
}

static int group_teardown(void **state) {
	(void) state;
	for (size_t i = 0; i < N_ZONES; i++)
		free(G.scan[i].tr);
	return 0;
}

/* ---- 1. offsets and local times against localtime_r ---- */

static void test_offset_matches_glibc(void **state) {
	(void) state;
	need_tzdata();
	tz_db *db = open_db();
	int64_t lo = civil(1900, 1, 1, 0, 0, 0), hi = civil(2100, 12, 31, 23, 59, 59);
	long n = iters(100000), total = 0, bad = 0, roundtrip = 0, mk = 0;
	for (size_t zi = 0; zi < N_ZONES; zi++) {
		const tz_zone *z = get_zone(db, glibc_zones[zi]);
		const zone_scan *zs = &G.scan[zi];
		glibc_zone(glibc_zones[zi]);
		for (long i = 0; i < n; i++) {
			int64_t t;
			/* Half uniform over 1900..2100, half close to a transition. */
			if (i % 2 == 0 || zs->n == 0) {
				t = rnd_range(lo, hi);
			} else {
				int64_t at = zs->tr[rnd() % zs->n].t;
				int k = (int) (rnd() % 4);
				int64_t w = k == 0 ? 60 : k == 1 ? 2 * HOUR : 3 * DAY;
				t = at + rnd_range(-w, w);
			}
			struct tm tm;
			glibc_tm(t, &tm);
			int32_t off = tz_offset_at(z, t);
			int64_t local = tz_to_local(z, t);
			cal_date d = cal_civil_from_days(cal_floordiv(local, DAY));
			int64_t sec = cal_floormod(local, DAY);
			total++;
			if (off != tm.tm_gmtoff || d.year != tm.tm_year + 1900 || d.month != tm.tm_mon + 1 ||
			    d.day != tm.tm_mday || sec / 3600 != tm.tm_hour || sec / 60 % 60 != tm.tm_min ||
			    sec % 60 != tm.tm_sec || (cal_weekday(cal_floordiv(local, DAY)) + 1) % 7 != tm.tm_wday) {
				if (bad++ < MAX_REPORTS)
					print_error("%s t=%" PRId64 ": ours %d, glibc %ld\n",
						    glibc_zones[zi], t, off, tm.tm_gmtoff);
				continue;
			}
			/* Back again: t itself, or the first instant of a fold with the same wall time. */
			int64_t back = tz_from_local(z, local);
			if (back != t && !(back < t && tz_to_local(z, back) == local)) {
				if (roundtrip++ < MAX_REPORTS)
					print_error("%s t=%" PRId64 ": from_local gives %" PRId64 "\n",
						    glibc_zones[zi], t, back);
			}
			/* Second oracle, where mktime has one answer: no change within a day. */
			if (i % 8 == 0 && glibc_off(t - DAY) == off && glibc_off(t + DAY) == off) {
				int64_t m = glibc_mktime(local);
				if (m != back && mk++ < MAX_REPORTS)
					print_error("%s local=%" PRId64 ": mktime %" PRId64 ", ours %" PRId64 "\n",
						    glibc_zones[zi], local, m, back);
			}
		}
	}
	print_message("%ld instants in %zu zones compared with localtime_r\n", total, N_ZONES);
	assert_true(total >= (G.quick ? 10000 : 100000));
	assert_int_equal(bad, 0);
	assert_int_equal(roundtrip, 0);
	assert_int_equal(mk, 0);
	tz_db_free(db);
}

/* Steps through a sweep, one second at a time next to lo and hi. */
static int64_t sweep_next(int64_t l, int64_t lo, int64_t hi, int64_t step) {
	if ((l >= lo - 2 && l <= lo + 1) || (l >= hi - 2 && l <= hi + 1))
		return l + 1;
	if (l < lo - 2 && l + step > lo - 2)
		return lo - 2;
	if (l < hi - 2 && l + step > hi - 2)
		return hi - 2;
	return l + step;
}

/* ---- 2. every transition 1990..2040: offsets, gaps and folds ---- */

static void test_transitions_1990_2040(void **state) {
	(void) state;
	need_tzdata();
	tz_db *db = open_db();
	int64_t from = civil(1990, 1, 1, 0, 0, 0), to = civil(2041, 1, 1, 0, 0, 0);
	long n_tr = 0, n_local = 0, bad = 0, n_mk = 0;
	long gap_mk_same = 0, gap_n = 0, fold_mk_same = 0, fold_n = 0;
	int64_t sweep_step = G.quick ? 97 : 7;
	for (size_t zi = 0; zi < N_ZONES; zi++) {
		const tz_zone *z = get_zone(db, glibc_zones[zi]);
		const zone_scan *zs = &G.scan[zi];
		glibc_zone(glibc_zones[zi]);
		long zone_tr = 0;
		for (size_t k = 0; k < zs->n; k++) {
			const transition *tr = &zs->tr[k];
			if (tr->t < from || tr->t >= to)
				continue;
			n_tr++;
			zone_tr++;
			assert_int_equal(tz_offset_at(z, tr->t - 1), tr->before);
			assert_int_equal(tz_offset_at(z, tr->t), tr->after);
			if (tr->before == tr->after)
				continue;
			/* Wall times [lo, hi) are skipped (gap) or repeated (fold). */
			bool gap = tr->after > tr->before;
			int64_t lo = tr->t + (gap ? tr->before : tr->after);
			int64_t hi = tr->t + (gap ? tr->after : tr->before);
			int n_probe = G.quick ? 10 : 16;
			int64_t probe[16] = {
				lo - HOUR, lo - 61, lo - 1, lo, lo + 1, (lo + hi) / 2, hi - 1, hi, hi + 1,
				hi + HOUR,
			};
			for (int i = 10; i < n_probe; i++)
				probe[i] = rnd_range(lo - 2 * HOUR, hi + 2 * HOUR);
			for (int i = 0; i < n_probe; i++) {
				int64_t l = probe[i], want, got = tz_from_local(z, l);
				char buf[40];
				n_local++;
				assert_true(oracle_from_local(l, &want));
				if (got != want) {
					fmt_local(l, buf, sizeof(buf));
					if (bad++ < MAX_REPORTS)
						print_error("%s %s: ours %" PRId64 ", oracle %" PRId64 "\n",
							    glibc_zones[zi], buf, got, want);
				}
				bool ordinary = l < lo || l >= hi;
				int64_t m = glibc_mktime(l);
				if (ordinary) {
					n_mk++;
					if (m != want && bad++ < MAX_REPORTS) {
						fmt_local(l, buf, sizeof(buf));
						print_error("%s %s: mktime %" PRId64 ", oracle %" PRId64 "\n",
							    glibc_zones[zi], buf, m, want);
					}
				} else if (gap) {
					gap_n++;
					gap_mk_same += m == got;
				} else {
					fold_n++;
					fold_mk_same += m == got;
				}
			}
			/* Dense sweep: near one transition the answer is l - before up to the
			 * end of the gap or fold, l - after from there on; and outside the gap
			 * the result never goes backwards. */
			int64_t prev = INT64_MIN;
			for (int64_t l = lo - 2 * HOUR; l <= hi + 2 * HOUR; l = sweep_next(l, lo, hi, sweep_step)) {
				int64_t got = tz_from_local(z, l);
				int64_t want = l < hi ? l - tr->before : l - tr->after;
				if (got != want && bad++ < MAX_REPORTS)
					print_error("%s sweep l=%" PRId64 ": %" PRId64 " != %" PRId64 "\n",
						    glibc_zones[zi], l, got, want);
				if (gap && l >= lo && l < hi)
					continue;
				if (got < prev && bad++ < MAX_REPORTS)
					print_error("%s sweep l=%" PRId64 ": not monotonic\n", glibc_zones[zi], l);
				prev = got;
			}
		}
		/* Sanity of the scan itself: two changes a year where DST is in use. */
		if (strcmp(glibc_zones[zi], "Asia/Ho_Chi_Minh") == 0 || strcmp(glibc_zones[zi], "UTC") == 0)
			assert_int_equal(zone_tr, 0);
		else
			assert_true(zone_tr >= 90); /* Riga skipped DST in 2000 */
		print_message("%s: %ld transitions\n", glibc_zones[zi], zone_tr);
	}
	print_message("%ld transitions, %ld local times vs oracle, %ld vs mktime; "
		      "glibc mktime(isdst=-1) agrees in %ld/%ld gap and %ld/%ld fold cases\n",
		      n_tr, n_local, n_mk, gap_mk_same, gap_n, fold_mk_same, fold_n);
	assert_int_equal(bad, 0);
	tz_db_free(db);
}

/* tz_from_local against the oracle at random wall times, 1900..2100, including the
 * LMT era and Apia's lost day. */
static void test_from_local_random(void **state) {
	(void) state;
	need_tzdata();
	static const char *const extra[] = { "Pacific/Apia" };
	tz_db *db = open_db();
	long n = iters(300), bad = 0, total = 0;
	int64_t lo = civil(1900, 1, 1, 0, 0, 0), hi = civil(2100, 12, 31, 0, 0, 0);
	for (size_t zi = 0; zi < N_ZONES + 1; zi++) {
		const char *name = zi < N_ZONES ? glibc_zones[zi] : extra[0];
		const tz_zone *z = get_zone(db, name);
		glibc_zone(name);
		for (long i = 0; i < n; i++) {
			int64_t l, want;
			if (i % 2 == 0 || zi == N_ZONES || G.scan[zi].n == 0) {
				l = rnd_range(lo, hi);
			} else {
				const transition *tr = &G.scan[zi].tr[rnd() % G.scan[zi].n];
				l = tr->t + tr->before + rnd_range(-2 * HOUR, 2 * HOUR);
			}
			total++;
			assert_true(oracle_from_local(l, &want));
			int64_t got = tz_from_local(z, l);
			if (got != want && bad++ < MAX_REPORTS)
				print_error("%s l=%" PRId64 ": ours %" PRId64 ", oracle %" PRId64 "\n",
					    name, l, got, want);
		}
	}
	print_message("%ld random wall times vs oracle\n", total);
	assert_int_equal(bad, 0);
	tz_db_free(db);
}

/* ---- 3. named cases and edge cases ---- */

static void test_errors(void **state) {
	(void) state;
	tz_db *db = open_db();
	const tz_zone *z = (const tz_zone *) db; /* sentinel: must stay untouched */
	static const char *const bad_names[] = {
		"../etc/passwd", "/etc/passwd", "Europe/../UTC", "Europe/./Helsinki", "",
		"Europe//Helsinki", "Europe/", "Europe/Hel sinki", "Europe/Helsinki\n", "UTC.",
		"Europe\\Helsinki",
	};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		assert_int_equal(tz_db_get(db, bad_names[i], &z), -EINVAL);
		assert_ptr_equal(z, (const tz_zone *) db);
	}
	char longname[400];
	memset(longname, 'A', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(tz_db_get(db, longname, &z), -EINVAL);
	assert_int_equal(tz_db_get(db, NULL, &z), -EINVAL);
	assert_int_equal(tz_db_get(NULL, "UTC", &z), -EINVAL);
	assert_ptr_equal(z, (const tz_zone *) db);
	if (G.have_tzdata) {
		assert_int_equal(tz_db_get(db, "Nowhere/Atlantis", &z), -ENOENT);
		assert_int_equal(tz_db_get(db, "Europe", &z), -ENOENT);           /* a directory */
		assert_int_equal(tz_db_get(db, "UTC/Helsinki", &z), -ENOENT);     /* ENOTDIR */
		assert_ptr_equal(z, (const tz_zone *) db);
		/* Cached: the same zone object, also after other loads. */
		const tz_zone *a = get_zone(db, "Europe/Helsinki");
		get_zone(db, "Europe/Oslo");
		assert_ptr_equal(get_zone(db, "Europe/Helsinki"), a);
	}
	tz_db_free(db);
	tz_db_free(NULL);
}

static void test_utc_without_files(void **state) {
	(void) state;
	tz_db *db = tz_db_new("/nonexistent/standingd-zoneinfo");
	assert_non_null(db);
	const tz_zone *z;
	static const char *const names[] = { "UTC", "Etc/UTC" };
	for (int i = 0; i < 2; i++) {
		z = get_zone(db, names[i]);
		static const int64_t ts[] = { INT64_MIN, -DAY * 400000, -1, 0, 1, 1700000000, INT64_MAX };
		for (size_t k = 0; k < sizeof(ts) / sizeof(ts[0]); k++) {
			assert_int_equal(tz_offset_at(z, ts[k]), 0);
			assert_int_equal(tz_from_local(z, ts[k]), ts[k]);
		}
	}
	assert_int_equal(tz_db_get(db, "Europe/Helsinki", &z), -ENOENT);
	tz_db_free(db);
}

/* Helsinki's table ends long before 2100 (slim files stop in the 1980s, fat ones in
 * 2037), so these come from "EET-2EEST,M3.5.0/3,M10.5.0/4". */
static void test_footer_2100(void **state) {
	(void) state;
	need_tzdata();
	tz_db *db = open_db();
	const tz_zone *z = get_zone(db, "Europe/Helsinki");
	assert_int_equal(tz_offset_at(z, civil(2100, 7, 1, 0, 0, 0)), 10800);
	assert_int_equal(tz_offset_at(z, civil(2100, 1, 1, 0, 0, 0)), 7200);
	/* Last Sundays: 2100-03-28 and 2100-10-31, both at 01:00 UTC. */
	int64_t on = civil(2100, 3, 28, 1, 0, 0), off = civil(2100, 10, 31, 1, 0, 0);
	assert_int_equal(on, INT64_C(4109878800));
	assert_int_equal(off, INT64_C(4128627600));
	assert_int_equal(tz_offset_at(z, on - 1), 7200);
	assert_int_equal(tz_offset_at(z, on), 10800);
	assert_int_equal(tz_offset_at(z, off - 1), 10800);
	assert_int_equal(tz_offset_at(z, off), 7200);
	/* 03:30 on 2100-03-28 does not exist: it becomes 04:30 EEST. */
	assert_int_equal(tz_from_local(z, civil(2100, 3, 28, 3, 30, 0)), on + 1800);
	/* 03:30 on 2100-10-31 happens twice: the EEST one. */
	assert_int_equal(tz_from_local(z, civil(2100, 10, 31, 3, 30, 0)), off - 1800);
	/* Far future and past do not crash or overflow. */
	assert_int_equal(tz_offset_at(z, civil(9999, 7, 1, 0, 0, 0)), 10800);
	assert_int_equal(tz_offset_at(z, civil(100000, 1, 1, 0, 0, 0)), 7200);
	tz_offset_at(z, INT64_MAX);
	tz_offset_at(z, INT64_MIN);
	tz_from_local(z, INT64_MAX);
	tz_from_local(z, INT64_MIN);
	tz_db_free(db);
}

/* Offsets come from a table built at load (transitions, then the footer rule written
 * out up to 2300, bucketed); beyond it the rule is evaluated. Both sides of the seams
 * (1900, 2300) and a southern-hemisphere and a negative-DST rule against glibc. */
static void test_lookup_table_seams(void **state) {
	(void) state;
	need_tzdata();
	tz_db *db = open_db();
	static const char *const zones[] = {
		"Europe/Helsinki", "America/Santiago", "Europe/Dublin", "Australia/Lord_Howe", "Asia/Ho_Chi_Minh",
	};
	static const int32_t spans[][2] = { { 1895, 1905 }, { 2030, 2040 }, { 2295, 2305 } };
	long total = 0, bad = 0;
	for (size_t zi = 0; zi < sizeof(zones) / sizeof(zones[0]); zi++) {
		const tz_zone *z = get_zone(db, zones[zi]);
		glibc_zone(zones[zi]);
		for (size_t si = 0; si < 3; si++)
			for (int64_t t = civil(spans[si][0], 1, 1, 0, 0, 0); t < civil(spans[si][1], 1, 1, 0, 0, 0);
			     t += 5 * HOUR + 17) {
				total++;
				if (tz_offset_at(z, t) != glibc_off(t) && bad++ < MAX_REPORTS)
					print_error("%s t=%" PRId64 ": ours %d, glibc %d\n", zones[zi], t,
						    tz_offset_at(z, t), glibc_off(t));
			}
	}
	/* 2300-01-01 itself, where the table hands over to the rule: Helsinki's changes
	 * on either side, to the second. */
	const tz_zone *hel = get_zone(db, "Europe/Helsinki");
	int64_t on2299 = civil(2299, 3, 26, 1, 0, 0), on2300 = civil(2300, 3, 25, 1, 0, 0);
	assert_int_equal(tz_offset_at(hel, on2299 - 1), 7200);
	assert_int_equal(tz_offset_at(hel, on2299), 10800);
	assert_int_equal(tz_offset_at(hel, civil(2299, 12, 31, 23, 59, 59)), 7200);
	assert_int_equal(tz_offset_at(hel, civil(2300, 1, 1, 0, 0, 0)), 7200);
	assert_int_equal(tz_offset_at(hel, on2300 - 1), 7200);
	assert_int_equal(tz_offset_at(hel, on2300), 10800);
	assert_int_equal(tz_from_local(hel, civil(2300, 3, 25, 3, 30, 0)), on2300 + 1800);
	/* tz_offset_min: the spring-forward inside the window, at its ends, or not in it */
	assert_int_equal(tz_offset_min(hel, on2299 - 3600, on2299 + 3600), 7200);
	assert_int_equal(tz_offset_min(hel, on2299, on2299 + 3600), 10800);
	assert_int_equal(tz_offset_min(hel, on2299 - 1, on2299), 7200);
	assert_int_equal(tz_offset_min(hel, on2299 + 1, on2299 + 90000), 10800);
	int64_t off2030 = civil(2030, 10, 27, 1, 0, 0);   /* last Sunday of October 2030 */
	assert_int_equal(tz_offset_min(hel, off2030 - 1, off2030 - 1), 10800);
	assert_int_equal(tz_offset_min(hel, off2030 - 90000, off2030), 7200);
	assert_int_equal(tz_offset_min(get_zone(db, "Asia/Ho_Chi_Minh"), off2030 - 90000, off2030), 25200);
	print_message("%ld instants near the table's seams compared with localtime_r\n", total);
	assert_int_equal(bad, 0);
	tz_db_free(db);
}

static void test_apia_skipped_day(void **state) {
	(void) state;
	need_tzdata();
	tz_db *db = open_db();
	const tz_zone *z = get_zone(db, "Pacific/Apia");
	int64_t t = civil(2011, 12, 30, 10, 0, 0); /* 29th 24:00 at -10 became the 31st at +14 */
	assert_int_equal(tz_offset_at(z, t - 1), -36000);
	assert_int_equal(tz_offset_at(z, t), 50400);
	int64_t dec30 = cal_days_from_civil(2011, 12, 30);
	for (int64_t u = t - 2 * DAY; u < t + 2 * DAY; u += 60)
		assert_int_not_equal(cal_floordiv(tz_to_local(z, u), DAY), dec30);
	/* Every wall time of the 30th moves forward by the lost day. */
	for (int64_t s = 0; s < DAY; s += 900) {
		int64_t l = dec30 * DAY + s;
		int64_t u = tz_from_local(z, l);
		assert_int_equal(u, l + 36000);
		assert_int_equal(tz_to_local(z, u), l + DAY);
	}
	assert_int_equal(tz_from_local(z, civil(2011, 12, 29, 23, 59, 59)), t - 1);
	assert_int_equal(tz_from_local(z, civil(2011, 12, 31, 0, 0, 0)), t);
	tz_db_free(db);
}

static void test_lord_howe_half_hour(void **state) {
	(void) state;
	need_tzdata();
	tz_db *db = open_db();
	const tz_zone *z = get_zone(db, "Australia/Lord_Howe");
	/* 2024-10-06 02:00 +10:30 -> 02:30 +11, 2025-04-06 02:00 +11 -> 01:30 +10:30. */
	int64_t on = civil(2024, 10, 5, 15, 30, 0), off = civil(2025, 4, 5, 15, 0, 0);
	assert_int_equal(tz_offset_at(z, on - 1), 37800);
	assert_int_equal(tz_offset_at(z, on), 39600);
	assert_int_equal(tz_offset_at(z, off - 1), 39600);
	assert_int_equal(tz_offset_at(z, off), 37800);
	/* DST across the new year. */
	assert_int_equal(tz_offset_at(z, civil(2024, 12, 31, 13, 0, 0)), 39600);
	assert_int_equal(tz_offset_at(z, civil(2025, 1, 1, 0, 0, 0)), 39600);
	assert_int_equal(tz_offset_at(z, civil(2025, 7, 1, 0, 0, 0)), 37800);
	assert_int_equal(tz_from_local(z, civil(2024, 10, 6, 2, 15, 0)), on + 900);  /* 02:45 +11 */
	assert_int_equal(tz_from_local(z, civil(2024, 10, 6, 2, 30, 0)), on);
	assert_int_equal(tz_from_local(z, civil(2025, 4, 6, 1, 45, 0)), off - 900);  /* the +11 one */
	assert_int_equal(tz_from_local(z, civil(2025, 4, 6, 2, 0, 0)), off + 1800);
	/* Year 2090: from the footer "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0". */
	assert_int_equal(tz_offset_at(z, civil(2090, 1, 1, 0, 0, 0)), 39600);
	assert_int_equal(tz_offset_at(z, civil(2090, 6, 1, 0, 0, 0)), 37800);
	tz_db_free(db);
}

static void test_truncated_and_corrupt(void **state) {
	need_tzdata();
	char path[600];
	size_t len;
	snprintf(path, sizeof(path), "%s/America/New_York", G.zonedir);
	uint8_t *orig = slurp(path, &len);
	assert_true(len > 100);
	const char *dir = *state;
	const tz_zone *z;

	write_file(dir, "Zone", orig, len);
	tz_db *db = tz_db_new(dir);
	z = get_zone(db, "Zone");
	assert_int_equal(tz_offset_at(z, civil(2030, 7, 1, 0, 0, 0)), -14400);
	tz_db_free(db);

	/* Every proper prefix is malformed: the footer needs its closing newline. */
	for (size_t n = 0; n < len; n++) {
		write_file(dir, "Zone", orig, n);
		db = tz_db_new(dir);
		int r = tz_db_get(db, "Zone", &z);
		if (r != -EINVAL)
			print_error("prefix of %zu bytes: %d\n", n, r);
		assert_int_equal(r, -EINVAL);
		tz_db_free(db);
	}

	/* Random damage: whatever is accepted must be safe to use (ASan/valgrind). */
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	long n_ok = 0, n = iters(3000);
	for (long i = 0; i < n; i++) {
		memcpy(buf, orig, len);
		int flips = 1 + (int) (rnd() % 4);
		for (int k = 0; k < flips; k++) {
			size_t pos = rnd() % len;
			/* Bias towards the header and the footer, where the interesting bytes are. */
			if (k == 0 && i % 3 == 0)
				pos = rnd() % 60;
			else if (k == 0 && i % 3 == 1)
				pos = len - 1 - rnd() % 40;
			buf[pos] = (uint8_t) rnd();
		}
		write_file(dir, "Zone", buf, len);
		db = tz_db_new(dir);
		int r = tz_db_get(db, "Zone", &z);
		assert_true(r == 0 || r == -EINVAL || r == -EOPNOTSUPP);
		if (r == 0) {
			n_ok++;
			for (int k = 0; k < 50; k++) {
				int64_t t = (int64_t) rnd();
				if (k % 2)
					t = rnd_range(-5000000000, 5000000000);
				tz_offset_at(z, t);
				tz_from_local(z, t);
			}
		}
		tz_db_free(db);
	}
	print_message("%ld damaged files, %ld still parsed\n", n, n_ok);
	free(buf);
	free(orig);
}

/* Hand-made files: footer forms against glibc's POSIX TZ parser, v1 files, and
 * malformed fields. */
static void test_synthetic_files(void **state) {
	const char *dir = *state;
	static const int32_t utc_off[] = { 0 };
	static const uint8_t no_dst[] = { 0 };
	outbuf o;
	tz_db *db;
	const tz_zone *z;

	/* Footer-only zones (empty table): glibc parses the same string from $TZ, which
	 * it does when no file of that name exists (hence the commas and brackets).
	 * From 1971 only: glibc applies a POSIX rule of year < 1970 as if it were 1970. */
	static const char *const footers[] = {
		"EET-2EEST,M3.5.0/3,M10.5.0/4",
		"<+07>-7",
		"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
		"EST5EDT,M3.2.0,M11.1.0",
		"IST-2IDT,M3.4.4/26,M10.5.0",         /* v3: after 24h */
		"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1",   /* v3: negative */
		"CET-1CEST,J60/2,J300/3",
		"AAA+5:30BBB+4:15:10,100/1:30:45,300/-1",
		"NZST-12NZDT,M9.5.0,M4.1.0/3",
		"<-0330>3:30<-0230>,M3.2.0/0:01,M11.1.0/0:01",
		"<+0545>-5:45",
	};
	long bad = 0, n = iters(20000);
	int64_t lo = civil(1971, 1, 1, 0, 0, 0), hi = civil(2100, 12, 31, 0, 0, 0);
	for (size_t i = 0; i < sizeof(footers) / sizeof(footers[0]); i++) {
		tzif_spec s = { .version = '3', .n_types = 1, .offs = utc_off, .isdst = no_dst, .footer = footers[i] };
		tzif_build(&s, &o);
		write_file(dir, "Zone", o.b, o.n);
		db = tz_db_new(dir);
		z = get_zone(db, "Zone");
		glibc_zone(footers[i]);
		for (long k = 0; k < n; k++) {
			int64_t t = rnd_range(lo, hi);
			if (tz_offset_at(z, t) != glibc_off(t) && bad++ < MAX_REPORTS)
				print_error("%s t=%" PRId64 ": ours %d, glibc %d\n", footers[i], t,
					    tz_offset_at(z, t), glibc_off(t));
		}
		for (long k = 0; k < n / 50; k++) {
			int64_t l = rnd_range(lo, hi), want;
			if (k % 2) {
				/* near a change: find one by stepping through the year */
				int64_t u = l - l % DAY;
				int32_t o0 = glibc_off(u);
				for (int d = 0; d < 366 && glibc_off(u) == o0; d++)
					u += DAY;
				l = u + o0 + rnd_range(-3 * HOUR, 3 * HOUR);
			}
			assert_true(oracle_from_local(l, &want));
			if (tz_from_local(z, l) != want && bad++ < MAX_REPORTS)
				print_error("%s l=%" PRId64 ": from_local %" PRId64 ", oracle %" PRId64 "\n",
					    footers[i], l, tz_from_local(z, l), want);
		}
		tz_db_free(db);
	}
	assert_int_equal(bad, 0);

	/* DST all year (RFC 8536 3.3.1). glibc gets the hours before its UTC new year
	 * wrong, so this is checked by hand. */
	{
		tzif_spec s = { .version = '3', .n_types = 1, .offs = utc_off, .isdst = no_dst,
				.footer = "EST5EDT4,0/0,J365/25" };
		tzif_build(&s, &o);
		write_file(dir, "Zone", o.b, o.n);
		db = tz_db_new(dir);
		z = get_zone(db, "Zone");
		for (int64_t t = civil(2023, 12, 30, 0, 0, 0); t < civil(2025, 1, 3, 0, 0, 0); t += 1800)
			assert_int_equal(tz_offset_at(z, t), -14400);
		assert_int_equal(tz_offset_at(z, civil(2024, 12, 31, 23, 59, 59)), -14400);
		assert_int_equal(tz_from_local(z, civil(2025, 1, 1, 0, 30, 0)), civil(2025, 1, 1, 4, 30, 0));
		tz_db_free(db);
	}

	/* v1 (32-bit only, no footer): before, between, after the table. */
	{
		static const int64_t tr[] = { -1000000000, 0, 1000000000 };
		static const uint8_t idx[] = { 1, 2, 1 };
		static const int32_t offs[] = { 3600, 7200, 10800 };
		static const uint8_t dst[] = { 0, 0, 1 };
		tzif_spec s = { .version = 0, .n_trans = 3, .n_types = 3, .trans = tr, .idx = idx,
				.offs = offs, .isdst = dst };
		tzif_build(&s, &o);
		write_file(dir, "Zone", o.b, o.n);
		db = tz_db_new(dir);
		z = get_zone(db, "Zone");
		assert_int_equal(tz_offset_at(z, INT64_MIN), 3600);
		assert_int_equal(tz_offset_at(z, -1000000001), 3600);
		assert_int_equal(tz_offset_at(z, -1000000000), 7200);
		assert_int_equal(tz_offset_at(z, -1), 7200);
		assert_int_equal(tz_offset_at(z, 0), 10800);
		assert_int_equal(tz_offset_at(z, 999999999), 10800);
		assert_int_equal(tz_offset_at(z, 1000000000), 7200);
		assert_int_equal(tz_offset_at(z, INT64_MAX), 7200);
		/* gap at 0 (+2h -> +3h) and fold at 1e9 (+3h -> +2h) */
		assert_int_equal(tz_from_local(z, 7200 + 1800), 1800);
		assert_int_equal(tz_from_local(z, 1000000000 + 7200 + 1800), 1000000000 - 1800);
		tz_db_free(db);
	}

	/* Type 0 is DST: before the table the first standard type applies (glibc's rule). */
	{
		static const int64_t tr[] = { 0 };
		static const uint8_t idx[] = { 0 };
		static const int32_t offs[] = { 7200, 3600 };
		static const uint8_t dst[] = { 1, 0 };
		tzif_spec s = { .version = '2', .n_trans = 1, .n_types = 2, .trans = tr, .idx = idx,
				.offs = offs, .isdst = dst, .footer = "" };
		tzif_build(&s, &o);
		write_file(dir, "Zone", o.b, o.n);
		db = tz_db_new(dir);
		z = get_zone(db, "Zone");
		assert_int_equal(tz_offset_at(z, -1), 3600);
		assert_int_equal(tz_offset_at(z, 0), 7200);
		assert_int_equal(tz_offset_at(z, INT64_C(1) << 40), 7200); /* empty footer: last type */
		tz_db_free(db);
	}

	/* Malformed: each of these must be refused with -EINVAL. */
	{
		static const int64_t tr2[] = { 100, 100 };
		static const int64_t tr_ok[] = { 100, 200 };
		static const uint8_t idx_ok[] = { 0, 0 };
		static const uint8_t idx_bad[] = { 0, 1 };
		static const uint8_t dst_bad[] = { 2 };
		static const int32_t off_bad[] = { 100000 };
		static const int32_t off_min[] = { INT32_MIN };
		static const char *const bad_footers[] = {
			"EET-2EEST,M13.5.0,M10.5.0", "EET-2EEST,M3.6.0,M10.5.0", "EET-2EEST,M3.5.7,M10.5.0",
			"EET-2EEST,M3.5.0", "EET-2EEST,J0,J10", "EET-2EEST,366,10", "EET-25",
			"EET-2EEST,M3.5.0/168,M10.5.0", "E-2", "<E>-2", "<EET-2", "EET", "EET-2:60",
			"EET-2EEST,M3.5.0,M10.5.0x", "EET-2 ", "-2",
		};
		tzif_spec good = { .version = '2', .n_trans = 2, .n_types = 1, .trans = tr_ok,
				   .idx = idx_ok, .offs = utc_off, .isdst = no_dst, .footer = "UTC0" };
		tzif_spec cases[8 + sizeof(bad_footers) / sizeof(bad_footers[0])];
		size_t nc = 0;
		cases[nc] = good, cases[nc++].trans = tr2;        /* not ascending */
		cases[nc] = good, cases[nc++].idx = idx_bad;      /* type index out of range */
		cases[nc] = good, cases[nc++].isdst = dst_bad;
		cases[nc] = good, cases[nc++].offs = off_bad;
		cases[nc] = good, cases[nc++].offs = off_min;
		cases[nc] = good, cases[nc].n_types = 0, cases[nc++].n_trans = 0;
		cases[nc] = good, cases[nc++].version = '1';
		cases[nc] = good, cases[nc++].footer = "UTC0\nx"; /* one line only: fine, see below */
		for (size_t i = 0; i < sizeof(bad_footers) / sizeof(bad_footers[0]); i++)
			cases[nc] = good, cases[nc++].footer = bad_footers[i];
		for (size_t i = 0; i < nc; i++) {
			tzif_build(&cases[i], &o);
			write_file(dir, "Zone", o.b, o.n);
			db = tz_db_new(dir);
			int r = tz_db_get(db, "Zone", &z);
			int want = i == 7 ? 0 : -EINVAL; /* bytes after the footer line are ignored */
			if (r != want)
				print_error("malformed case %zu (%s): %d\n", i, cases[i].footer, r);
			assert_int_equal(r, want);
			tz_db_free(db);
		}
		/* A footer longer than any real one (and than the parser's buffer). */
		char longf[400];
		memset(longf, 'A', sizeof(longf));
		memcpy(longf + sizeof(longf) - 3, "-2", 3);
		tzif_spec lf = good;
		lf.footer = longf;
		tzif_build(&lf, &o);
		write_file(dir, "Zone", o.b, o.n);
		db = tz_db_new(dir);
		assert_int_equal(tz_db_get(db, "Zone", &z), -EINVAL);
		tz_db_free(db);
		/* Bad magic. */
		tzif_build(&good, &o);
		o.b[0] = 'X';
		write_file(dir, "Zone", o.b, o.n);
		db = tz_db_new(dir);
		assert_int_equal(tz_db_get(db, "Zone", &z), -EINVAL);
		tz_db_free(db);
		/* Leap seconds ("right/" zones) are not our kind of instants. */
		tzif_spec leap = good;
		leap.n_leap = 2;
		tzif_build(&leap, &o);
		write_file(dir, "Zone", o.b, o.n);
		db = tz_db_new(dir);
		assert_int_equal(tz_db_get(db, "Zone", &z), -EOPNOTSUPP);
		tz_db_free(db);
	}

	/* TZDIR is honoured when no directory is given. */
	{
		tzif_spec s = { .version = '2', .n_types = 1, .offs = utc_off, .isdst = no_dst,
				.footer = "<+0545>-5:45" };
		tzif_build(&s, &o);
		write_file(dir, "Zone", o.b, o.n);
		char *old = getenv("TZDIR") ? strdup(getenv("TZDIR")) : NULL;
		assert_int_equal(setenv("TZDIR", dir, 1), 0);
		db = tz_db_new(NULL);
		if (old)
			setenv("TZDIR", old, 1);
		else
			unsetenv("TZDIR");
		free(old);
		z = get_zone(db, "Zone");
		assert_int_equal(tz_offset_at(z, 0), 20700);
		tz_db_free(db);
	}

}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_utc_without_files),
		cmocka_unit_test(test_footer_2100),
		cmocka_unit_test(test_lookup_table_seams),
		cmocka_unit_test(test_apia_skipped_day),
		cmocka_unit_test(test_lord_howe_half_hour),
		cmocka_unit_test(test_offset_matches_glibc),
		cmocka_unit_test(test_transitions_1990_2040),
		cmocka_unit_test(test_from_local_random),
		cmocka_unit_test_setup_teardown(test_truncated_and_corrupt, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_synthetic_files, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests_name("tz", tests, group_setup, group_teardown);
}
