/* The small parsers: money ("0.85 EUR"), dates, times, instants, order numbers
 * and durations (lead_time, through the YAML loader, since defs keeps its
 * duration parser to itself). Every parser gets the same input as text.
 * Invariants are round trips: parse, format, parse gives the same value and,
 * where there is one spelling, the same text; refusals leave *ret alone; every
 * single-digit change of an order number is caught (Damm); an accepted
 * lead_time is exactly N units as written. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/time/cal.h"
#include "lib/defs/defs.h"
#include "tests/fuzz/fuzz.h"
#include "lib/base/money.h"
#include "lib/store/store.h"

static void check_money(const char *s) {
	money m = { .minor = 42, .currency = "ZZZ" }, m2;
	const char *why = NULL;
	if (money_parse(s, &m, &why) < 0) {
		FUZZ_CHECK(why && why[0], "refused without a message");
		FUZZ_CHECK(m.minor == 42 && !strcmp(m.currency, "ZZZ"), "*ret changed on failure");
		return;
	}
	FUZZ_CHECK(strlen(m.currency) == 3 && money_exponent(m.currency) >= 0, "currency %s", m.currency);
	char amount[32], text[64], again[32];
	money_format_amount(&m, amount, sizeof(amount));
	snprintf(text, sizeof(text), "%s %s", amount, m.currency);
	FUZZ_CHECK(money_parse(text, &m2, &why) == 0, "\"%s\" formatted as \"%s\" does not parse: %s", s, text, why);
	FUZZ_CHECK(m2.minor == m.minor && !strcmp(m2.currency, m.currency), "\"%s\" -> \"%s\" changes", s, text);
	FUZZ_CHECK(!strcmp(money_format_amount(&m2, again, sizeof(again)), amount), "format not stable");
}

static void check_date(const char *s) {
	int64_t days = 4242, d2;
	char buf[CAL_ISO_MAX];
	if (cal_parse_date(s, &days) < 0) {
		FUZZ_CHECK(days == 4242, "*ret changed on failure");
		return;
	}
	FUZZ_CHECK(!strcmp(cal_format_date(days, buf), s), "date \"%s\" formats as \"%s\"", s, buf);
	FUZZ_CHECK(cal_parse_date(buf, &d2) == 0 && d2 == days, "date round trip");
}

static void check_time(const char *s) {
	int32_t secs = -1;
	if (cal_parse_time(s, &secs) < 0) {
		FUZZ_CHECK(secs == -1, "*ret changed on failure");
		return;
	}
	FUZZ_CHECK(secs >= 0 && secs < 86400, "time \"%s\" = %d", s, secs);
	char buf[16];
	if (strlen(s) == 5)
		snprintf(buf, sizeof(buf), "%02d:%02d", secs / 3600, secs / 60 % 60);
	else
		snprintf(buf, sizeof(buf), "%02d:%02d:%02d", secs / 3600, secs / 60 % 60, secs % 60);
	FUZZ_CHECK(!strcmp(buf, s), "time \"%s\" is %s", s, buf);
}

static void check_instant(const char *s) {
	int64_t t = 4242, t2;
	char buf[CAL_ISO_MAX];
	if (cal_parse_instant(s, &t) < 0) {
		FUZZ_CHECK(t == 4242, "*ret changed on failure");
		return;
	}
	/* an offset may carry the text out of years 1..9999, which no parser reads */
	if (t < cal_days_from_civil(2, 1, 1) * CAL_SECS_PER_DAY || t >= cal_days_from_civil(9999, 1, 1) * CAL_SECS_PER_DAY)
		return;
	cal_format_utc(t, buf);
	FUZZ_CHECK(cal_parse_instant(buf, &t2) == 0 && t2 == t, "instant \"%s\" -> \"%s\"", s, buf);
	for (int32_t off = -14 * 3600; off <= 14 * 3600; off += 5 * 3600 + 45 * 60) {
		cal_format_instant(t, off, buf);
		FUZZ_CHECK(cal_parse_instant(buf, &t2) == 0 && t2 == t, "instant \"%s\" -> \"%s\"", s, buf);
	}
}

/* Digits of an order number: dashes, spaces and the SO prefix dropped. */
static void digits_of(const char *s, char *out, size_t size) {
	size_t n = 0;
	for (; *s && n + 1 < size; s++)
		if (isdigit((unsigned char) *s))
			out[n++] = *s;
	out[n] = 0;
}

static void check_number_seq(uint64_t seq) {
	char num[ORDER_NUMBER_MAX];
	uint64_t back = 0;
	order_number_format(seq, num);
	FUZZ_CHECK(order_number_parse(num, &back) == 0 && back == seq, "%" PRIu64 " -> %s", seq, num);
	/* Damm: every single-digit error is caught */
	for (size_t i = 3; num[i]; i++) {
		if (!isdigit((unsigned char) num[i]))
			continue;
		char orig = num[i];
		for (char d = '0'; d <= '9'; d++) {
			if (d == orig)
				continue;
			num[i] = d;
			uint64_t other;
			FUZZ_CHECK(order_number_parse(num, &other) < 0, "%s (a changed digit of %" PRIu64 ") parses", num, seq);
		}
		num[i] = orig;
	}
}

static void check_number(const char *s, const uint8_t *data, size_t size) {
	uint64_t seq = 4242;
	if (order_number_parse(s, &seq) == 0) {
		FUZZ_CHECK(seq >= 1 && seq <= ORDER_SEQ_MAX, "%s: seq %" PRIu64, s, seq);
		char num[ORDER_NUMBER_MAX], a[32], b[32];
		order_number_format(seq, num);
		digits_of(s, a, sizeof(a));
		digits_of(num, b, sizeof(b));
		FUZZ_CHECK(!strcmp(a, b), "\"%s\" is %s", s, num);
		check_number_seq(seq);
	} else {
		FUZZ_CHECK(seq == 4242, "*ret changed on failure");
	}
	uint64_t v = 0;
	for (size_t i = 0; i < size && i < 8; i++)
		v = v << 8 | data[i];
	check_number_seq(v % ORDER_SEQ_MAX + 1);
}

/* ---- durations ---- */

static const char conf[] = "timezone: UTC\nsuppliers: [{id: s, name: S}]\n";
static const char head[] =
	"customers: [{id: c, name: C}]\n"
	"standing_orders:\n"
	"  - id: o\n"
	"    customer: c\n"
	"    supplier: s\n"
	"    ship_to: {name: N, street: S, city: C, country: FI}\n"
	"    lines: [{sku: X, quantity: 1, unit_price: \"1.00 EUR\"}]\n"
	"    payment: account\n"
	"    schedule: {every: 1 day, start: 2027-01-01, lead_time: \"";

/* N units as written ("5 days", "1 hour"), by a parser of our own; -1 if not one. */
static int64_t expected_duration(const char *s) {
	static const struct { const char *name; int64_t secs; } units[] = {
		{ "second", 1 }, { "minute", 60 }, { "hour", 3600 }, { "day", 86400 }, { "week", 604800 },
	};
	char *end;
	if (!isdigit((unsigned char) s[0]))
		return -1;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || n > 999999999 || *end != ' ')
		return -1;
	while (*end == ' ')
		end++;
	size_t len = strlen(end);
	for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++) {
		size_t ul = strlen(units[i].name);
		if (!strncmp(end, units[i].name, ul) && (len == ul || (len == ul + 1 && end[ul] == 's')))
			return (int64_t) n * units[i].secs;
	}
	return -1;
}

static void check_duration(const char *s, size_t len) {
	if (len > 200)
		return;
	/* the text as a YAML double-quoted scalar */
	char yaml[sizeof(head) + 200 * 4 + 16];
	size_t n = strlen(head);
	memcpy(yaml, head, n);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char) s[i];
		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
			n += (size_t) sprintf(yaml + n, "\\x%02x", ch);
		else
			yaml[n++] = (char) ch;
	}
	n += (size_t) sprintf(yaml + n, "\"}\n");
	defs_file files[] = {
		{ .name = "standingd.yaml", .data = (char *) conf, .len = strlen(conf) },
		{ .name = "orders.d/o.yaml", .data = yaml, .len = n },
	};
	defs *d = NULL;
	diag_list diags = { 0 };
	int r = defs_load_files(files, 2, NULL, &d, &diags);
	FUZZ_CHECK(r == 0 || (r == -EINVAL && diags.n > 0), "defs_load_files: %d", r);
	if (r == 0) {
		FUZZ_CHECK(d->n_orders == 1, "orders");
		int64_t want = expected_duration(s);
		FUZZ_CHECK(want >= 0 && d->orders[0].rule.lead_time == want, "lead_time \"%s\" = %lld s, expected %lld",
			   s, (long long) d->orders[0].rule.lead_time, (long long) want);
	}
	diag_list_clear(&diags);
	defs_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (size > 4096)
		return -1;
	char *s = fuzz_strndup(data, size);
	check_money(s);
	check_date(s);
	check_time(s);
	check_instant(s);
	check_number(s, data, size);
	if (!memchr(data, 0, size))
		check_duration(s, size);
	free(s);
	return 0;
}
