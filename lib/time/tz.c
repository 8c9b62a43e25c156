/* tz: TZif (RFC 8536, v1..v3) reader plus the POSIX TZ footer rule, and a small
 * per-db cache of zones. The files are untrusted input: every count is checked
 * against the bytes actually read before anything is indexed. Lookups never
 * allocate; zones are immutable once loaded. Thread-safety: tz_db_get takes the
 * db's mutex (the daemon's worker threads load zones lazily too); a loaded zone is
 * read without one. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lib/time/cal.h"
#include "lib/time/tz.h"

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_NAME_MAX 255
/* The largest real TZif file is a few KiB; anything bigger is not a zone. */
#define TZ_FILE_MAX (1 << 20)
#define TZ_FOOTER_MAX 255
#define TZ_HEADER_LEN 44
/* tz_from_local works on local times within +-2^50 s (35 million years) so that
 * local +- offset cannot overflow; rule arithmetic clamps a bit further out so the
 * year always fits cal's int32 years. */
#define TZ_LOCAL_LIMIT (INT64_C(1) << 50)
#define TZ_RULE_LIMIT (INT64_C(1) << 52)
/* The footer rule is expanded into a table up to 2300-01-01 (see struct tz_zone). */
#define TZ_EXPAND_START INT64_C(-2208988800) /* 1900-01-01 */
#define TZ_EXPAND_END INT64_C(10413792000)   /* 2300-01-01 */
#define TZ_BUCKET_BITS 21                    /* 24 days: changes are rarely closer */

typedef struct tz_rule_date {
	char kind;     /* 'J': Jn (1..365, Feb 29 never counted), 'D': n (0..365), 'M': Mm.w.d */
	int16_t n;
	int16_t mon, week, wday; /* wday 0 = Sunday, as POSIX counts */
	int32_t time;  /* seconds after local midnight; v3 allows -167h..167h */
} tz_rule_date;

typedef struct tz_rule {
	int32_t std_off, dst_off; /* seconds east of UTC (POSIX writes them west) */
	bool has_dst;
	tz_rule_date start, end;  /* start is in standard time, end in DST */
} tz_rule;

struct tz_zone {
	char *name;
	size_t n_trans;
	int64_t *trans;     /* strictly ascending */
	int32_t *trans_off; /* offset in force from trans[i] on */
	int32_t early_off;  /* before trans[0], or always if there is neither table nor rule */
	bool has_rule;      /* footer: in force from the last transition on */
	tz_rule rule;
	int32_t min_off, max_off; /* bounds of every offset the zone can return */
	/* A lookup table built at load: the transitions followed by the footer rule's
	 * changes written out up to TZ_EXPAND_END, so that an offset there is found
	 * without evaluating the rule (four years of events). fast[i] with fast_off[i]
	 * in force from it on; it answers for t in [fast[0], fast_end). bucket[b] is the
	 * last i with fast[i] <= fast_b0 + b * 2^TZ_BUCKET_BITS (0 when none): a lookup in
	 * [fast_b0, fast_b1) then steps over the few changes of one bucket. */
	size_t n_fast;
	int64_t *fast;
	int32_t *fast_off;
	int64_t fast_end, fast_b0, fast_b1;
	uint32_t *bucket;
};

struct tz_db {
	char *dir;
	tz_zone **zones;
	size_t n_zones, cap;
	/* tz_db_get loads zones on first use: the daemon's worker threads and its loop
	 * ask at once (a loaded zone itself is never changed) */
	pthread_mutex_t lock;
};

/* ---- POSIX TZ strings ---- */

static bool is_alpha(char c) {
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(char c) {
	return c >= '0' && c <= '9';
}

static int parse_uint(const char **pp, int max_digits, int *ret) {
	const char *p = *pp;
	int v = 0, n = 0;
	while (n < max_digits && is_digit(*p)) {
		v = v * 10 + (*p++ - '0');
		n++;
	}
	if (n == 0)
		return -EINVAL;
	*pp = p;
	*ret = v;
	return 0;
}

static int parse_abbr(const char **pp) {
	const char *p = *pp;
	int n = 0;
	if (*p == '<') {
		for (p++; is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-'; p++)
			n++;
		if (*p++ != '>')
			return -EINVAL;
	} else {
		for (; is_alpha(*p); p++)
			n++;
	}
	if (n < 3)
		return -EINVAL;
	*pp = p;
	return 0;
}

/* [+-]hh[:mm[:ss]] in seconds; max_hours is 24 for offsets, 167 for rule times (v3). */
static int parse_hms(const char **pp, int max_hours, int32_t *ret) {
	const char *p = *pp;
	int sign = 1, h, m = 0, s = 0;
	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (parse_uint(&p, 3, &h) < 0 || h > max_hours)
		return -EINVAL;
	if (*p == ':') {
		p++;
		if (parse_uint(&p, 2, &m) < 0 || m > 59)
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (parse_uint(&p, 2, &s) < 0 || s > 59)
				return -EINVAL;
		}
	}
	*pp = p;
	*ret = sign * (h * 3600 + m * 60 + s);
	return 0;
}

static int parse_rule_date(const char **pp, tz_rule_date *ret) {
	const char *p = *pp;
	tz_rule_date d = { .time = 7200 };
	int a, b, c;
	if (*p == 'J') {
		p++;
		if (parse_uint(&p, 3, &a) < 0 || a < 1 || a > 365)
			return -EINVAL;
		d.kind = 'J';
		d.n = (int16_t) a;
	} else if (*p == 'M') {
		p++;
		if (parse_uint(&p, 2, &a) < 0 || a < 1 || a > 12 || *p++ != '.' ||
		    parse_uint(&p, 1, &b) < 0 || b < 1 || b > 5 || *p++ != '.' ||
		    parse_uint(&p, 1, &c) < 0 || c > 6)
			return -EINVAL;
		d.kind = 'M';
		d.mon = (int16_t) a;
		d.week = (int16_t) b;
		d.wday = (int16_t) c;
	} else {
		if (parse_uint(&p, 3, &a) < 0 || a > 365)
			return -EINVAL;
		d.kind = 'D';
		d.n = (int16_t) a;
	}
	if (*p == '/') {
		p++;
		if (parse_hms(&p, 167, &d.time) < 0)
			return -EINVAL;
	}
	*pp = p;
	*ret = d;
	return 0;
}

static int parse_posix_tz(const char *s, tz_rule *ret) {
	const char *p = s;
	tz_rule r = { 0 };
	int32_t v;
	if (parse_abbr(&p) < 0 || parse_hms(&p, 24, &v) < 0)
		return -EINVAL;
	r.std_off = -v;
	if (*p != '\0') {
		if (parse_abbr(&p) < 0)
			return -EINVAL;
		r.has_dst = true;
		r.dst_off = r.std_off + 3600;
		if (*p != ',' && *p != '\0') {
			if (parse_hms(&p, 24, &v) < 0)
				return -EINVAL;
			r.dst_off = -v;
		}
		if (*p == '\0') {
			/* No rule: POSIX leaves it to the implementation; glibc and tzcode
			 * use the US rules, so do we. */
			r.start = (tz_rule_date) { .kind = 'M', .mon = 3, .week = 2, .time = 7200 };
			r.end = (tz_rule_date) { .kind = 'M', .mon = 11, .week = 1, .time = 7200 };
		} else if (*p++ != ',' || parse_rule_date(&p, &r.start) < 0 ||
			   *p++ != ',' || parse_rule_date(&p, &r.end) < 0) {
			return -EINVAL;
		}
	}
	if (*p != '\0')
		return -EINVAL;
	*ret = r;
	return 0;
}

static int64_t rule_day(const tz_rule_date *d, int32_t y) {
	int64_t jan1 = cal_days_from_civil(y, 1, 1);
	if (d->kind == 'J')
		return jan1 + d->n - 1 + (cal_is_leap(y) && d->n >= 60);
	if (d->kind == 'D')
		return jan1 + d->n;
	int64_t first = cal_days_from_civil(y, d->mon, 1);
	int wd = (cal_weekday(first) + 1) % 7; /* cal counts from Monday, POSIX from Sunday */
	int64_t day = first + (d->wday - wd + 7) % 7 + 7 * (d->week - 1);
	if (day >= first + cal_days_in_month(y, d->mon))
		day -= 7; /* week 5 means the last such weekday */
	return day;
}

/* Whether DST is in force at t: the latest start or end at or before t decides.
 * Looking at the neighbouring years too keeps southern-hemisphere rules and v3
 * times that spill into another year right. Also reports the first event after t. */
static bool rule_is_dst(const tz_rule *r, int64_t t, int64_t *ret_next) {
	if (t > TZ_RULE_LIMIT)
		t = TZ_RULE_LIMIT;
	else if (t < -TZ_RULE_LIMIT)
		t = -TZ_RULE_LIMIT;
	int32_t y = cal_civil_from_days(cal_floordiv(t + r->std_off, CAL_SECS_PER_DAY)).year;
	bool have_prev = false, dst = false;
	int64_t prev = 0, next = INT64_MAX;
	for (int32_t k = y - 1; k <= y + 2; k++) {
		int64_t ev[2] = {
			rule_day(&r->end, k) * CAL_SECS_PER_DAY + r->end.time - r->dst_off,
			rule_day(&r->start, k) * CAL_SECS_PER_DAY + r->start.time - r->std_off,
		};
		for (int i = 0; i < 2; i++) {
			bool is_start = i == 1;
			if (ev[i] > t) {
				if (ev[i] < next)
					next = ev[i];
			} else if (!have_prev || ev[i] > prev || (ev[i] == prev && is_start)) {
				/* On a tie the start wins: "0/0,J365/25" is DST all year. */
				have_prev = true;
				prev = ev[i];
				dst = is_start;
			}
		}
	}
	if (ret_next)
		*ret_next = next;
	return dst;
}

static int32_t rule_offset(const tz_rule *r, int64_t t) {
	if (!r->has_dst)
		return r->std_off;
	return rule_is_dst(r, t, NULL) ? r->dst_off : r->std_off;
}

/* ---- TZif ---- */

typedef struct tz_counts {
	uint32_t isut, isstd, leap, time, type, chars;
} tz_counts;

static uint32_t be32(const uint8_t *p) {
	return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static int64_t be64s(const uint8_t *p) {
	return (int64_t) ((uint64_t) be32(p) << 32 | be32(p + 4));
}

static int read_header(const uint8_t *p, size_t avail, char *ret_version, tz_counts *ret) {
	if (avail < TZ_HEADER_LEN || memcmp(p, "TZif", 4) != 0)
		return -EINVAL;
	*ret_version = (char) p[4];
	*ret = (tz_counts) {
		.isut = be32(p + 20), .isstd = be32(p + 24), .leap = be32(p + 28),
		.time = be32(p + 32), .type = be32(p + 36), .chars = be32(p + 40),
	};
	return 0;
}

static uint64_t block_len(const tz_counts *c, unsigned tsize) {
	return (uint64_t) c->time * (tsize + 1) + (uint64_t) c->type * 6 + c->chars +
	       (uint64_t) c->leap * (tsize + 4) + c->isstd + c->isut;
}

/* Fills z's table from one data block of tsize-byte times (4: v1, 8: v2+). The
 * caller has checked that block_len(c, tsize) bytes are there. */
static int parse_block(const uint8_t *p, const tz_counts *c, unsigned tsize, tz_zone *z) {
	if (c->type == 0 || c->type > 256 || c->chars == 0 ||
	    (c->isut != 0 && c->isut != c->type) || (c->isstd != 0 && c->isstd != c->type))
		return -EINVAL;
	/* Leap-second ("right/") zones count TAI-like seconds, not our POSIX instants. */
	if (c->leap != 0)
		return -EOPNOTSUPP;
	const uint8_t *times = p, *idx = p + (size_t) c->time * tsize;
	const uint8_t *types = idx + c->time;
	int32_t offs[256];
	bool isdst[256];
	for (uint32_t i = 0; i < c->type; i++) {
		const uint8_t *t = types + 6 * (size_t) i;
		int32_t off = (int32_t) be32(t);
		/* RFC 8536 bounds; larger values would only be garbage. */
		if (off < -89999 || off > 93599 || t[4] > 1 || t[5] >= c->chars)
			return -EINVAL;
		offs[i] = off;
		isdst[i] = t[4];
	}
	if (c->time > 0) {
		z->trans = malloc(c->time * sizeof(*z->trans));
		z->trans_off = malloc(c->time * sizeof(*z->trans_off));
		if (!z->trans || !z->trans_off)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < c->time; i++) {
		const uint8_t *t = times + (size_t) i * tsize;
		int64_t v = tsize == 8 ? be64s(t) : (int64_t) (int32_t) be32(t);
		if ((i > 0 && v <= z->trans[i - 1]) || idx[i] >= c->type)
			return -EINVAL;
		z->trans[i] = v;
		z->trans_off[i] = offs[idx[i]];
	}
	z->n_trans = c->time;
	/* RFC 8536 says type 0; glibc takes the first standard-time type. zic puts the
	 * standard-time LMT first, so they agree; this is glibc's rule. */
	uint32_t early = 0;
	while (early < c->type && isdst[early])
		early++;
	z->early_off = offs[early < c->type ? early : 0];
	z->min_off = z->max_off = offs[0];
	for (uint32_t i = 1; i < c->type; i++) {
		if (offs[i] < z->min_off)
			z->min_off = offs[i];
		if (offs[i] > z->max_off)
			z->max_off = offs[i];
	}
	return 0;
}

static int parse_tzif(const uint8_t *buf, size_t len, tz_zone *z) {
	tz_counts c;
	char ver;
	if (read_header(buf, len, &ver, &c) < 0)
		return -EINVAL;
	uint64_t v1_len = block_len(&c, 4);
	if (v1_len > len - TZ_HEADER_LEN)
		return -EINVAL;
	if (ver == '\0')
		return parse_block(buf + TZ_HEADER_LEN, &c, 4, z);
	if (ver < '2')
		return -EINVAL;

	/* v2+: the 32-bit block only serves old readers; skip to the 64-bit one. */
	size_t pos = TZ_HEADER_LEN + (size_t) v1_len;
	char ver2;
	if (read_header(buf + pos, len - pos, &ver2, &c) < 0)
		return -EINVAL;
	pos += TZ_HEADER_LEN;
	uint64_t v2_len = block_len(&c, 8);
	if (v2_len > len - pos)
		return -EINVAL;
	int r = parse_block(buf + pos, &c, 8, z);
	if (r < 0)
		return r;
	pos += (size_t) v2_len;

	/* Footer: "\n" TZ-string "\n"; an empty string means no rule. */
	if (pos >= len || buf[pos] != '\n')
		return -EINVAL;
	pos++;
	const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
	if (!nl)
		return -EINVAL;
	size_t flen = (size_t) (nl - (buf + pos));
	if (flen == 0)
		return 0;
	if (flen > TZ_FOOTER_MAX || memchr(buf + pos, '\0', flen))
		return -EINVAL;
	char footer[TZ_FOOTER_MAX + 1];
	memcpy(footer, buf + pos, flen);
	footer[flen] = '\0';
	if (parse_posix_tz(footer, &z->rule) < 0)
		return -EINVAL;
	z->has_rule = true;
	int32_t lo = z->rule.std_off, hi = z->rule.has_dst ? z->rule.dst_off : lo;
	if (lo > hi) {
		int32_t tmp = lo;
		lo = hi;
		hi = tmp;
	}
	if (lo < z->min_off)
		z->min_off = lo;
	if (hi > z->max_off)
		z->max_off = hi;
	return 0;
}

static int read_file(const char *path, uint8_t **ret_buf, size_t *ret_len) {
	/* O_NONBLOCK: a FIFO under the zone directory must not hang us. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? -ENOENT : -errno;
	int r;
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -ENOENT; /* a directory such as "Europe" is not a zone */
		goto out;
	}
	if (st.st_size > TZ_FILE_MAX || st.st_size <= 0) {
		r = -EINVAL;
		goto out;
	}
	size_t cap = (size_t) st.st_size;
	buf = malloc(cap);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t) n;
	}
	*ret_buf = buf;
	*ret_len = len;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

/* ---- zones ---- */

static void zone_free(tz_zone *z) {
	if (!z)
		return;
	free(z->name);
	free(z->trans);
	free(z->trans_off);
	free(z->fast);
	free(z->fast_off);
	free(z->bucket);
	free(z);
}

static bool name_valid(const char *name) {
	size_t len = strlen(name);
	if (len == 0 || len > TZ_NAME_MAX || name[0] == '/' || name[len - 1] == '/')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '+' && c != '-' && c != '/')
			return false;
		/* Empty components would give one file two cache names. */
		if (c == '/' && name[i + 1] == '/')
			return false;
	}
	/* '.' is not allowed at all, so ".." cannot occur. */
	return true;
}

static void fast_build(tz_zone *z);

static int zone_load(const tz_db *db, const char *name, tz_zone **ret) {
	tz_zone *z = calloc(1, sizeof(*z));
	char *path = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = -ENOMEM;
	if (!z)
		goto out;
	z->name = strdup(name);
	if (!z->name)
		goto out;
	/* UTC must work on machines without tzdata (containers, CI). */
	if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
		*ret = z;
		return 0;
	}
	size_t dlen = strlen(db->dir), nlen = strlen(name);
	path = malloc(dlen + 1 + nlen + 1);
	if (!path)
		goto out;
	memcpy(path, db->dir, dlen);
	path[dlen] = '/';
	memcpy(path + dlen + 1, name, nlen + 1);
	r = read_file(path, &buf, &len);
	if (r < 0)
		goto out;
	r = parse_tzif(buf, len, z);
	if (r < 0)
		goto out;
	fast_build(z);
	*ret = z;
	z = NULL;
out:
	zone_free(z);
	free(path);
	free(buf);
	return r;
}

const char *tz_zone_name(const tz_zone *z) {
	return z->name;
}

/* The index of the last fast[] <= t, for t in [fast[0], fast_end). */
static size_t fast_find(const tz_zone *z, int64_t t) {
	size_t lo, hi;
	if (t >= z->fast_b0 && t < z->fast_b1) {
		lo = z->bucket[(t - z->fast_b0) >> TZ_BUCKET_BITS];
		while (lo + 1 < z->n_fast && z->fast[lo + 1] <= t)
			lo++;
		return lo;
	}
	lo = 0;
	hi = z->n_fast; /* fast[lo] <= t < fast[hi] (fast[n_fast] is the end) */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (z->fast[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static bool fast_covers(const tz_zone *z, int64_t t) {
	return z->n_fast > 0 && t >= z->fast[0] && t < z->fast_end;
}

static int fast_cmp(const void *a, const void *b) {
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
	return (x > y) - (x < y);
}

static void fast_free(tz_zone *z) {
	free(z->fast);
	free(z->fast_off);
	free(z->bucket);
	z->fast = NULL;
	z->fast_off = NULL;
	z->bucket = NULL;
	z->n_fast = 0;
}

/* Builds the lookup table. It answers exactly as the transitions and the rule do:
 * trans_off[i] on [trans[i], trans[i + 1]); from the last transition on (or from
 * 1900 when there are none) rule_offset(), which changes only at the rule's start
 * and end events, so those events with rule_offset() at each are the whole story.
 * Without memory the table is simply absent (lookups take the slow way). */
static void fast_build(tz_zone *z) {
	bool dst = z->has_rule && z->rule.has_dst;
	size_t n = z->n_trans;
	int64_t w0 = n > 0 ? z->trans[n - 1] : TZ_EXPAND_START;
	if (n == 0 && !dst)
		return;
	if (dst && w0 < TZ_EXPAND_START)
		w0 = TZ_EXPAND_START;
	int32_t y0 = 0, y1 = -1;
	if (dst && w0 < TZ_EXPAND_END) {
		y0 = cal_civil_from_days(cal_floordiv(w0, CAL_SECS_PER_DAY)).year - 1;
		y1 = cal_civil_from_days(cal_floordiv(TZ_EXPAND_END, CAL_SECS_PER_DAY)).year + 1;
	}
	size_t n_ev = 2 * (size_t) (y1 - y0 + 1), cap = n + 1 + n_ev;
	int64_t *ev = n_ev ? malloc(n_ev * sizeof(*ev)) : NULL;
	z->fast = malloc(cap * sizeof(*z->fast));
	z->fast_off = malloc(cap * sizeof(*z->fast_off));
	if ((n_ev && !ev) || !z->fast || !z->fast_off) {
		free(ev);
		fast_free(z);
		return;
	}
	/* the transitions; from the last one on, the rule's offset when there is a rule */
	for (size_t i = 0; i < n; i++) {
		z->fast[i] = z->trans[i];
		z->fast_off[i] = z->trans_off[i];
	}
	z->n_fast = n;
	z->fast_end = INT64_MAX;
	if (z->has_rule) {
		if (n == 0)
			z->fast[z->n_fast++] = w0;
		z->fast_off[z->n_fast - 1] = rule_offset(&z->rule, w0);
	}
	if (dst) {
		z->fast_end = w0 < TZ_EXPAND_END ? TZ_EXPAND_END : w0;
		size_t k = 0;
		for (int32_t y = y0; y <= y1; y++) {
			ev[k++] = rule_day(&z->rule.end, y) * CAL_SECS_PER_DAY + z->rule.end.time - z->rule.dst_off;
			ev[k++] = rule_day(&z->rule.start, y) * CAL_SECS_PER_DAY + z->rule.start.time - z->rule.std_off;
		}
		if (k)
			qsort(ev, k, sizeof(*ev), fast_cmp);
		for (size_t i = 0; i < k; i++) {
			if (ev[i] <= w0 || ev[i] >= z->fast_end)
				continue;
			int32_t off = rule_offset(&z->rule, ev[i]);
			if (off != z->fast_off[z->n_fast - 1]) {
				z->fast[z->n_fast] = ev[i];
				z->fast_off[z->n_fast++] = off;
			}
		}
	}
	free(ev);
	/* buckets over [1900, 2300) within the table's range */
	int64_t b0 = z->fast[0] > TZ_EXPAND_START ? z->fast[0] : TZ_EXPAND_START;
	int64_t b1 = z->fast_end < TZ_EXPAND_END ? z->fast_end : TZ_EXPAND_END;
	z->fast_b0 = z->fast_b1 = b0;
	if (b1 <= b0)
		return;
	size_t nb = (size_t) ((b1 - b0) >> TZ_BUCKET_BITS) + 1;
	z->bucket = malloc(nb * sizeof(*z->bucket));
	if (!z->bucket)
		return;
	size_t i = 0;
	for (size_t b = 0; b < nb; b++) {
		int64_t start = b0 + ((int64_t) b << TZ_BUCKET_BITS);
		while (i + 1 < z->n_fast && z->fast[i + 1] <= start)
			i++;
		z->bucket[b] = (uint32_t) i;
	}
	z->fast_b1 = b1;
}

int32_t tz_offset_at(const tz_zone *z, int64_t t) {
	size_t n = z->n_trans;
	if (fast_covers(z, t))
		return z->fast_off[fast_find(z, t)];
	if (n == 0 || t >= z->trans[n - 1]) {
		if (z->has_rule)
			return rule_offset(&z->rule, t);
		return n == 0 ? z->early_off : z->trans_off[n - 1];
	}
	if (t < z->trans[0])
		return z->early_off;
	size_t lo = 0, hi = n - 1; /* trans[lo] <= t < trans[hi] */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (z->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->trans_off[lo];
}

/* The first instant after t at which the offset may change; false if there is none. */
static bool next_change(const tz_zone *z, int64_t t, int64_t *ret) {
	size_t n = z->n_trans;
	if (fast_covers(z, t)) {
		size_t i = fast_find(z, t);
		if (i + 1 < z->n_fast) {
			*ret = z->fast[i + 1];
			return true;
		}
	}
	if (n > 0 && t < z->trans[n - 1]) {
		size_t lo = 0, hi = n - 1; /* the answer is in [lo, hi] */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (z->trans[mid] > t)
				hi = mid;
			else
				lo = mid + 1;
		}
		*ret = z->trans[lo];
		return true;
	}
	if (!z->has_rule || !z->rule.has_dst)
		return false;
	int64_t next;
	rule_is_dst(&z->rule, t, &next);
	if (next <= t || next == INT64_MAX)
		return false;
	*ret = next;
	return true;
}

int32_t tz_offset_min(const tz_zone *z, int64_t from, int64_t to) {
	int32_t low = tz_offset_at(z, from);
	for (int64_t t = from, c; next_change(z, t, &c) && c > t && c <= to; t = c) {
		int32_t off = tz_offset_at(z, c);
		if (off < low)
			low = off;
	}
	return low;
}

int64_t tz_from_local(const tz_zone *z, int64_t local) {
	if (local > TZ_LOCAL_LIMIT || local < -TZ_LOCAL_LIMIT) {
		/* Far outside any calendar we care about: no gap/fold search, just do not overflow. */
		int32_t off = tz_offset_at(z, local);
		if (off > 0 && local < INT64_MIN + off)
			return INT64_MIN;
		if (off < 0 && local > INT64_MAX + off)
			return INT64_MAX;
		return local - off;
	}
	/* Every answer local - off lies in [local - max_off, local - min_off]. Walk the
	 * stretches of constant offset in that window: an offset off is valid when it is
	 * in force at local - off; the smallest such instant is the first of a fold. If
	 * none is valid, local fell into a gap, and the offset before that jump applies. */
	int64_t u = local - z->max_off, end = local - z->min_off;
	int32_t off = tz_offset_at(z, u);
	bool found = false, in_gap = false;
	int64_t best = 0, gap = 0;
	for (;;) {
		int64_t c = local - off;
		if ((!found || c < best) && tz_offset_at(z, c) == off) {
			best = c;
			found = true;
		}
		int64_t t;
		if (!next_change(z, u, &t) || t > end || t <= u)
			break;
		int32_t before = off;
		off = tz_offset_at(z, t);
		if (!in_gap && t + before <= local && local < t + off) {
			gap = local - before;
			in_gap = true;
		}
		u = t;
	}
	if (found)
		return best;
	if (in_gap)
		return gap;
	return local - tz_offset_at(z, local); /* only for inconsistent data */
}

/* ---- db ---- */

tz_db *tz_db_new(const char *dir) {
	if (!dir) {
		dir = getenv("TZDIR");
		if (!dir || !*dir)
			dir = TZ_DEFAULT_DIR;
	}
	tz_db *db = calloc(1, sizeof(*db));
	if (!db)
		return NULL;
	db->dir = strdup(dir);
	if (!db->dir) {
		free(db);
		return NULL;
	}
	pthread_mutex_init(&db->lock, NULL);
	return db;
}

void tz_db_free(tz_db *db) {
	if (!db)
		return;
	for (size_t i = 0; i < db->n_zones; i++)
		zone_free(db->zones[i]);
	free(db->zones);
	free(db->dir);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

static int db_get(tz_db *db, const char *name, const tz_zone **ret_zone);

int tz_db_get(tz_db *db, const char *name, const tz_zone **ret_zone) {
	if (!db || !name || !ret_zone || !name_valid(name))
		return -EINVAL;
	pthread_mutex_lock(&db->lock);
	int r = db_get(db, name, ret_zone);
	pthread_mutex_unlock(&db->lock);
	return r;
}

static int db_get(tz_db *db, const char *name, const tz_zone **ret_zone) {
	/* A service uses a handful of zones: a linear scan beats a hash here. */
	for (size_t i = 0; i < db->n_zones; i++) {
		if (strcmp(db->zones[i]->name, name) == 0) {
			*ret_zone = db->zones[i];
			return 0;
		}
	}
	if (db->n_zones == db->cap) {
		size_t cap = db->cap ? db->cap * 2 : 8;
		tz_zone **zones = realloc(db->zones, cap * sizeof(*zones));
		if (!zones)
			return -ENOMEM;
		db->zones = zones;
		db->cap = cap;
	}
	tz_zone *z;
	int r = zone_load(db, name, &z);
	if (r < 0)
		return r;
	db->zones[db->n_zones++] = z;
	*ret_zone = z;
	return 0;
}
