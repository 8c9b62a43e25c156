/* money: "AMOUNT CURRENCY" strings <-> integer minor units. Parsing is pure
 * integer arithmetic on the digits, so "0.1 EUR" is exactly 10 cents and
 * nothing is ever rounded: more decimals than the currency has is an error. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/base/money.h"

/* ISO 4217 active codes with their minor-unit exponent (list 1, 2024). The
 * precious metals, fund and testing codes (XAU, XDR, XTS, XXX ...) have no
 * minor unit and are not money one invoices in, so they are left out. */
typedef struct money_currency {
	char code[4];
	int exponent;
} money_currency;

static const money_currency money_currencies[] = {
	{"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2}, {"ARS", 2},
	{"AUD", 2}, {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BGN", 2},
	{"BHD", 3}, {"BIF", 0}, {"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BOV", 2}, {"BRL", 2},
	{"BSD", 2}, {"BTN", 2}, {"BWP", 2}, {"BYN", 2}, {"BZD", 2}, {"CAD", 2}, {"CDF", 2},
	{"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4}, {"CLP", 0}, {"CNY", 2}, {"COP", 2},
	{"COU", 2}, {"CRC", 2}, {"CUC", 2}, {"CUP", 2}, {"CVE", 2}, {"CZK", 2}, {"DJF", 0},
	{"DKK", 2}, {"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2}, {"EUR", 2},
	{"FJD", 2}, {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2},
	{"GNF", 0}, {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2},
	{"IDR", 2}, {"ILS", 2}, {"INR", 2}, {"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2},
	{"JOD", 3}, {"JPY", 0}, {"KES", 2}, {"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2},
	{"KRW", 0}, {"KWD", 3}, {"KYD", 2}, {"KZT", 2}, {"LAK", 2}, {"LBP", 2}, {"LKR", 2},
	{"LRD", 2}, {"LSL", 2}, {"LYD", 3}, {"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2},
	{"MMK", 2}, {"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2}, {"MVR", 2}, {"MWK", 2},
	{"MXN", 2}, {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2}, {"NIO", 2},
	{"NOK", 2}, {"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2}, {"PGK", 2},
	{"PHP", 2}, {"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2},
	{"RUB", 2}, {"RWF", 0}, {"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2},
	{"SGD", 2}, {"SHP", 2}, {"SLE", 2}, {"SLL", 2}, {"SOS", 2}, {"SRD", 2}, {"SSP", 2},
	{"STN", 2}, {"SVC", 2}, {"SYP", 2}, {"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2},
	{"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2}, {"TWD", 2}, {"TZS", 2}, {"UAH", 2},
	{"UGX", 0}, {"USD", 2}, {"USN", 2}, {"UYI", 0}, {"UYU", 2}, {"UYW", 4}, {"UZS", 2},
	{"VED", 2}, {"VES", 2}, {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAF", 0}, {"XCD", 2},
	{"XCG", 2}, {"XOF", 0}, {"XPF", 0}, {"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
	{"ZWL", 2},
};

static int money_currency_cmp(const void *key, const void *elem) {
	return strcmp(key, ((const money_currency *) elem)->code);
}

int money_exponent(const char *currency) {
	if (!currency || strlen(currency) != 3)
		return -ENOENT;
	const money_currency *c = bsearch(currency, money_currencies,
					  sizeof(money_currencies) / sizeof(money_currencies[0]),
					  sizeof(money_currencies[0]), money_currency_cmp);
	return c ? c->exponent : -ENOENT;
}

static bool money_is_digit(char c) {
	return c >= '0' && c <= '9';
}

static bool money_is_upper(char c) {
	return c >= 'A' && c <= 'Z';
}

/* v = v * 10 + d without overflow; false when it would exceed INT64_MAX. */
static bool money_push_digit(int64_t *v, int d) {
	if (*v > (INT64_MAX - d) / 10)
		return false;
	*v = *v * 10 + d;
	return true;
}

int money_parse(const char *s, money *ret, const char **ret_why) {
	static const char syntax[] = "expected an amount and currency like \"0.85 EUR\"";
	const char *why = syntax;
	const char *p = s;
	bool neg = false;
	int64_t v = 0;
	bool range = false;

	if (!s)
		goto fail;
	if (*p == '-') {
		neg = true;
		p++;
	}
	/* Syntax first, so that a malformed string never reports a decimals or
	 * range problem: [-]DIGITS[.DIGITS] SPACE CODE, nothing else. */
	const char *int_begin = p;
	while (money_is_digit(*p))
		p++;
	const char *int_end = p, *frac_begin = p, *frac_end = p;
	if (int_end == int_begin)
		goto fail;
	if (*p == '.') {
		frac_begin = ++p;
		while (money_is_digit(*p))
			p++;
		frac_end = p;
		if (frac_end == frac_begin)
			goto fail;
	}
	if (*p++ != ' ')
		goto fail;
	const char *code = p;
	if (!money_is_upper(code[0]) || !money_is_upper(code[1]) || !money_is_upper(code[2]) || code[3])
		goto fail;

	int exp = money_exponent(code);
	if (exp < 0) {
		why = "unknown currency";
		goto fail;
	}
	if (frac_end - frac_begin > exp) {
		why = "too many decimals for the currency";
		goto fail;
	}
	for (const char *q = int_begin; q < int_end && !range; q++)
		range = !money_push_digit(&v, *q - '0');
	for (int i = 0; i < exp && !range; i++) {
		int d = frac_begin + i < frac_end ? frac_begin[i] - '0' : 0;
		range = !money_push_digit(&v, d);
	}
	if (range) {
		why = "amount out of range";
		goto fail;
	}
	ret->minor = neg ? -v : v;
	memcpy(ret->currency, code, 4);
	return 0;
fail:
	if (ret_why)
		*ret_why = why;
	return -EINVAL;
}

char *money_format_amount(const money *m, char *buf, size_t size) {
	int exp = money_exponent(m->currency);
	if (exp < 0)
		exp = 2;   /* no (known) currency: an absent amount still prints sensibly */
	/* the magnitude as unsigned, so INT64_MIN has one */
	uint64_t mag = m->minor < 0 ? (uint64_t) 0 - (uint64_t) m->minor : (uint64_t) m->minor;
	uint64_t scale = 1;
	for (int i = 0; i < exp; i++)
		scale *= 10;
	char frac[8] = "";
	/* at most 4 decimals (CLF, UYW); written by hand to keep the width static */
	uint64_t f = mag % scale;
	for (int i = exp; i > 0; i--) {
		frac[i] = (char) ('0' + f % 10);
		f /= 10;
	}
	frac[0] = '.';
	frac[exp + 1] = '\0';
	/* "%s%llu%s" by hand, from the end (a reply prints one per line item) */
	char tmp[40], *p = tmp + sizeof(tmp);
	*--p = '\0';
	if (exp) {
		p -= exp + 1;
		memcpy(p, frac, (size_t) exp + 1);
	}
	uint64_t ip = mag / scale;
	do {
		*--p = (char) ('0' + ip % 10);
		ip /= 10;
	} while (ip);
	if (m->minor < 0)
		*--p = '-';
	size_t len = (size_t) (tmp + sizeof(tmp) - 1 - p);
	if (size) {
		size_t k = len < size - 1 ? len : size - 1;
		memcpy(buf, p, k);
		buf[k] = '\0';
	}
	return buf;
}
