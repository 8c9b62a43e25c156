/* fmt: money, numbers, percentages, dates and times as ICU's data for the
 * language writes them (no locale tables of our own). Amounts go to ICU as decimal
 * strings (unum_formatDecimal), never through a double. ICU's output keeps its
 * no-break spaces (U+00A0, U+202F): they are the typography of those languages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucal.h>
#include <unicode/udat.h>
#include <unicode/uloc.h>
#include <unicode/unum.h>
#include <unicode/ustring.h>
#include "lib/mail/mail.h"
#include "lib/mail/mail_int.h"

struct mail_fmt {
	char locale[16];
	UNumberFormat *money, *number, *percent;
	UDateFormat *date_full, *date, *time;
};

/* The ICU locale of a customer language. English is en_GB: the shops are in Europe,
 * and day-month-year with a 24-hour clock is what their English-reading customers
 * expect (ICU's plain "en" is US: month first, AM/PM). */
static const char *icu_locale(const char *lang) {
	static const char *const map[][2] = {
		{ "en", "en_GB" }, { "fi", "fi_FI" }, { "lv", "lv_LV" }, { "nb", "nb_NO" }, { "vi", "vi_VN" },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (lang && !strcmp(lang, map[i][0]))
			return map[i][1];
	return "en_GB";
}

void mail_fmt_close(mail_fmt *f) {
	if (!f)
		return;
	if (f->money)
		unum_close(f->money);
	if (f->number)
		unum_close(f->number);
	if (f->percent)
		unum_close(f->percent);
	if (f->date_full)
		udat_close(f->date_full);
	if (f->date)
		udat_close(f->date);
	if (f->time)
		udat_close(f->time);
	free(f);
}

static int icu_errno(UErrorCode e) {
	return e == U_MEMORY_ALLOCATION_ERROR ? -ENOMEM : -EINVAL;
}

/* the zone as ICU names it: an IANA id it knows, else a fixed offset "GMT+02:00" */
static void zone_id(const char *zone, int32_t offset, UChar ret[64]) {
	UErrorCode e = U_ZERO_ERROR;
	if (zone && strlen(zone) < 60) {
		UChar in[64], canon[64];
		u_uastrcpy(in, zone);
		UBool system = false;
		int32_t n = ucal_getCanonicalTimeZoneID(in, -1, canon, 64, &system, &e);
		if (U_SUCCESS(e) && system && n > 0 && n < 64) {
			u_strcpy(ret, in);
			return;
		}
	}
	char gmt[16];
	int32_t a = offset < 0 ? -offset : offset;
	snprintf(gmt, sizeof(gmt), "GMT%c%02d:%02d", offset < 0 ? '-' : '+', (int) (a / 3600 % 100),
		 (int) (a / 60 % 60));
	u_uastrcpy(ret, gmt);
}

int mail_fmt_open(const char *lang, const char *zone, int32_t fallback_offset, mail_fmt **ret) {
	mail_fmt *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	snprintf(f->locale, sizeof(f->locale), "%s", icu_locale(lang));
	UErrorCode e = U_ZERO_ERROR;
	UChar tz[64];
	zone_id(zone, fallback_offset, tz);
	f->money = unum_open(UNUM_CURRENCY, NULL, 0, f->locale, NULL, &e);
	f->number = unum_open(UNUM_DECIMAL, NULL, 0, f->locale, NULL, &e);
	f->percent = unum_open(UNUM_PERCENT, NULL, 0, f->locale, NULL, &e);
	if (U_SUCCESS(e)) {
		/* the rate arrives in percent ("25.5"), keep all its decimals */
		unum_setAttribute(f->percent, UNUM_MULTIPLIER, 1);
		unum_setAttribute(f->percent, UNUM_MAX_FRACTION_DIGITS, 3);
		unum_setAttribute(f->number, UNUM_MAX_FRACTION_DIGITS, 6);
	}
	f->date_full = udat_open(UDAT_NONE, UDAT_FULL, f->locale, tz, -1, NULL, 0, &e);
	f->date = udat_open(UDAT_NONE, UDAT_LONG, f->locale, tz, -1, NULL, 0, &e);
	f->time = udat_open(UDAT_SHORT, UDAT_NONE, f->locale, tz, -1, NULL, 0, &e);
	if (U_FAILURE(e)) {
		mail_fmt_close(f);
		return icu_errno(e);
	}
	*ret = f;
	return 0;
}

static int to_utf8(const UChar *u, int32_t n, char **ret) {
	UErrorCode e = U_ZERO_ERROR;
	int32_t len = 0;
	u_strToUTF8(NULL, 0, &len, u, n, &e);
	if (e != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(e))
		return icu_errno(e);
	char *s = malloc((size_t) len + 1);
	if (!s)
		return -ENOMEM;
	e = U_ZERO_ERROR;
	u_strToUTF8(s, len + 1, NULL, u, n, &e);
	if (U_FAILURE(e)) {
		free(s);
		return icu_errno(e);
	}
	*ret = s;
	return 0;
}

/* [-]digits[.digits], what the event's amounts and quantities are */
static bool decimal_valid(const char *s) {
	if (!s || strlen(s) > 40)
		return false;
	if (*s == '-')
		s++;
	size_t d = strspn(s, "0123456789");
	if (!d)
		return false;
	s += d;
	if (*s == '.')
		s++, d = strspn(s, "0123456789"), s += d;
	return *s == 0;
}

static int number(UNumberFormat *nf, const char *decimal, char **ret) {
	if (!decimal_valid(decimal))
		return -EINVAL;
	UErrorCode e = U_ZERO_ERROR;
	UChar out[128];
	int32_t n = unum_formatDecimal(nf, decimal, -1, out, 128, NULL, &e);
	if (U_FAILURE(e) || n >= 128)
		return U_FAILURE(e) ? icu_errno(e) : -EINVAL;
	return to_utf8(out, n, ret);
}

int mail_fmt_money(mail_fmt *f, const char *amount, const char *currency, char **ret) {
	if (!currency || strlen(currency) != 3)
		return -EINVAL;
	UChar cc[4];
	u_uastrcpy(cc, currency);
	UErrorCode e = U_ZERO_ERROR;
	unum_setTextAttribute(f->money, UNUM_CURRENCY_CODE, cc, 3, &e);
	if (U_FAILURE(e))
		return icu_errno(e);
	return number(f->money, amount, ret);
}

int mail_fmt_number(mail_fmt *f, const char *decimal, char **ret) {
	return number(f->number, decimal, ret);
}

int mail_fmt_percent(mail_fmt *f, const char *percent, char **ret) {
	return number(f->percent, percent, ret);
}

static int date(UDateFormat *df, int64_t t, char **ret) {
	UErrorCode e = U_ZERO_ERROR;
	UChar out[128];
	int32_t n = udat_format(df, (UDate) t * 1000.0, out, 128, NULL, &e);
	if (U_FAILURE(e) || n >= 128)
		return U_FAILURE(e) ? icu_errno(e) : -EINVAL;
	return to_utf8(out, n, ret);
}

int mail_fmt_date_full(mail_fmt *f, int64_t t, char **ret) {
	return date(f->date_full, t, ret);
}

int mail_fmt_date(mail_fmt *f, int64_t t, char **ret) {
	return date(f->date, t, ret);
}

int mail_fmt_time(mail_fmt *f, int64_t t, char **ret) {
	return date(f->time, t, ret);
}

int mail_fmt_country(mail_fmt *f, const char *code, char **ret) {
	char loc[16];
	if (!code || strlen(code) != 2)
		return -EINVAL;
	snprintf(loc, sizeof(loc), "und_%s", code);
	UErrorCode e = U_ZERO_ERROR;
	UChar out[128];
	int32_t n = uloc_getDisplayCountry(loc, f->locale, out, 128, &e);
	if (U_FAILURE(e) || n >= 128 || n == 0)
		return U_FAILURE(e) ? icu_errno(e) : -EINVAL;
	return to_utf8(out, n, ret);
}

int mail_format_date(const char *lang, const char *zone, int32_t fallback_offset, int64_t t, bool full,
		     char **ret) {
	mail_fmt *f;
	int r = mail_fmt_open(lang, zone, fallback_offset, &f);
	if (r < 0)
		return r;
	r = full ? mail_fmt_date_full(f, t, ret) : mail_fmt_date(f, t, ret);
	mail_fmt_close(f);
	return r;
}

int mail_format_money(const char *lang, const char *amount, const char *currency, char **ret) {
	mail_fmt *f;
	int r = mail_fmt_open(lang, NULL, 0, &f);
	if (r < 0)
		return r;
	r = mail_fmt_money(f, amount, currency, ret);
	mail_fmt_close(f);
	return r;
}
