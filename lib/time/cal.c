/* Civil-date arithmetic: the days_from_civil / civil_from_days algorithms on
 * 400-year eras (146097 days), which are exact for any year representable here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "lib/time/cal.h"

int64_t cal_days_from_civil(int32_t y, int32_t m, int32_t d) {
	int64_t yy = (int64_t) y - (m <= 2);
	int64_t era = cal_floordiv(yy, 400);
	int64_t yoe = yy - era * 400;                                   /* [0, 399] */
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;   /* [0, 365] */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            /* [0, 146096] */
	return era * 146097 + doe - 719468;
}

cal_date cal_civil_from_days(int64_t days) {
	int64_t z = days + 719468;
	int64_t era = cal_floordiv(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = yoe + era * 400 + (m <= 2);
	return (cal_date) { .year = (int32_t) y, .month = (int32_t) m, .day = (int32_t) d };
}

int cal_weekday(int64_t days) {
	/* 1970-01-01 was a Thursday (3 with Monday = 0). */
	return (int) cal_floormod(days + 3, 7);
}

bool cal_is_leap(int32_t y) {
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int cal_days_in_month(int32_t y, int32_t m) {
	static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && cal_is_leap(y))
		return 29;
	return len[m - 1];
}

int64_t cal_months_between(int32_t y1, int32_t m1, int32_t y2, int32_t m2) {
	return 12 * ((int64_t) y2 - y1) + (m2 - m1);
}

cal_date cal_add_months(cal_date d, int64_t n) {
	int64_t total = (int64_t) d.year * 12 + (d.month - 1) + n;
	cal_date r;
	r.year = (int32_t) cal_floordiv(total, 12);
	r.month = (int32_t) cal_floormod(total, 12) + 1;
	int dim = cal_days_in_month(r.year, r.month);
	r.day = d.day > dim ? dim : d.day;
	return r;
}

static int digits(const char *s, int n, int *ret) {
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return 0;
}

int cal_parse_date(const char *s, int64_t *ret_days) {
	int y, m, d;
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    digits(s, 4, &y) < 0 || digits(s + 5, 2, &m) < 0 || digits(s + 8, 2, &d) < 0)
		return -EINVAL;
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > cal_days_in_month(y, m))
		return -EINVAL;
	*ret_days = cal_days_from_civil(y, m, d);
	return 0;
}

int cal_parse_time(const char *s, int32_t *ret_secs) {
	int h, m, sec = 0;
	size_t len = strlen(s);
	if ((len != 5 && len != 8) || s[2] != ':' || digits(s, 2, &h) < 0 || digits(s + 3, 2, &m) < 0)
		return -EINVAL;
	if (len == 8 && (s[5] != ':' || digits(s + 6, 2, &sec) < 0))
		return -EINVAL;
	if (h > 23 || m > 59 || sec > 59)
		return -EINVAL;
	*ret_secs = h * 3600 + m * 60 + sec;
	return 0;
}

char *cal_format_date(int64_t days, char buf[CAL_ISO_MAX]) {
	cal_date d = cal_civil_from_days(days);
	snprintf(buf, CAL_ISO_MAX, "%04d-%02d-%02d", d.year, d.month, d.day);
	return buf;
}

/* Two decimal digits of v (0..99) at p. */
static void put2(char *p, int v) {
	p[0] = (char) ('0' + v / 10);
	p[1] = (char) ('0' + v % 10);
}

static char *format_local(int64_t local, char *buf, size_t size) {
	int64_t days = cal_floordiv(local, CAL_SECS_PER_DAY);
	int64_t sec = local - days * CAL_SECS_PER_DAY;
	cal_date d = cal_civil_from_days(days);
	if (d.year >= 0 && d.year <= 9999 && size >= 20) {
		/* the snprintf below by hand: replies print two of these per item */
		put2(buf, d.year / 100);
		put2(buf + 2, d.year % 100);
		buf[4] = '-';
		put2(buf + 5, d.month);
		buf[7] = '-';
		put2(buf + 8, d.day);
		buf[10] = 'T';
		put2(buf + 11, (int) (sec / 3600));
		buf[13] = ':';
		put2(buf + 14, (int) (sec / 60 % 60));
		buf[16] = ':';
		put2(buf + 17, (int) (sec % 60));
		buf[19] = '\0';
		return buf;
	}
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d", d.year, d.month, d.day,
		 (int) (sec / 3600), (int) (sec / 60 % 60), (int) (sec % 60));
	return buf;
}

char *cal_format_utc(int64_t t, char buf[CAL_ISO_MAX]) {
	format_local(t, buf, CAL_ISO_MAX);
	strcat(buf, "Z");
	return buf;
}

char *cal_format_instant(int64_t t, int32_t offset, char buf[CAL_ISO_MAX]) {
	format_local(t + offset, buf, CAL_ISO_MAX);
	int32_t a = offset < 0 ? -offset : offset;
	size_t len = strlen(buf);
	if (a < 100 * 3600 && len + 10 <= CAL_ISO_MAX) {
		char *p = buf + len;
		*p++ = offset < 0 ? '-' : '+';
		put2(p, (int) (a / 3600));
		p[2] = ':';
		put2(p + 3, (int) (a / 60 % 60));
		p += 5;
		if (a % 60) {
			*p++ = ':';
			put2(p, (int) (a % 60));
			p += 2;
		}
		*p = '\0';
		return buf;
	}
	if (a % 60)
		snprintf(buf + len, CAL_ISO_MAX - len, "%c%02d:%02d:%02d", offset < 0 ? '-' : '+',
			 (int) (a / 3600), (int) (a / 60 % 60), (int) (a % 60));
	else
		snprintf(buf + len, CAL_ISO_MAX - len, "%c%02d:%02d", offset < 0 ? '-' : '+',
			 (int) (a / 3600), (int) (a / 60 % 60));
	return buf;
}

int cal_parse_instant(const char *s, int64_t *ret) {
	char date[11], time[9];
	size_t len = strlen(s);
	if (len < 17 || (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
		return -EINVAL;
	memcpy(date, s, 10);
	date[10] = 0;
	const char *p = s + 11;
	size_t tl = strcspn(p, "Zz+-");
	if (tl != 5 && tl != 8)
		return -EINVAL;
	memcpy(time, p, tl);
	time[tl] = 0;
	int64_t days;
	int32_t secs;
	if (cal_parse_date(date, &days) < 0 || cal_parse_time(time, &secs) < 0)
		return -EINVAL;
	p += tl;
	int32_t off = 0;
	if ((p[0] == 'Z' || p[0] == 'z') && p[1] == 0)
		off = 0;
	else if ((p[0] == '+' || p[0] == '-') && strlen(p) == 6 && p[3] == ':') {
		int h, m;
		if (digits(p + 1, 2, &h) < 0 || digits(p + 4, 2, &m) < 0 || h > 23 || m > 59)
			return -EINVAL;
		off = (h * 3600 + m * 60) * (p[0] == '-' ? -1 : 1);
	} else
		return -EINVAL;
	*ret = days * CAL_SECS_PER_DAY + secs - off;
	return 0;
}
