/* money: exact decimal parsing into minor units, the currency table, formatting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "lib/base/money.h"

static void parse_ok(const char *s, int64_t minor, const char *currency) {
	money m;
	const char *why = NULL;
	int r = money_parse(s, &m, &why);
	if (r != 0)
		print_error("money_parse(\"%s\"): %s\n", s, why);
	assert_int_equal(r, 0);
	assert_true(m.minor == minor);
	assert_string_equal(m.currency, currency);
}

static void parse_bad(const char *s, const char *why_prefix) {
	money m = { .minor = 4242, .currency = "XYZ" };
	const char *why = NULL;
	assert_int_equal(money_parse(s, &m, &why), -EINVAL);
	assert_non_null(why);
	if (strncmp(why, why_prefix, strlen(why_prefix)) != 0)
		print_error("money_parse(\"%s\"): \"%s\", wanted \"%s...\"\n", s, why, why_prefix);
	assert_true(strncmp(why, why_prefix, strlen(why_prefix)) == 0);
	/* untouched on failure */
	assert_true(m.minor == 4242);
	assert_string_equal(m.currency, "XYZ");
}

static void test_parse(void **state) {
	(void) state;
	parse_ok("0.85 EUR", 85, "EUR");
	parse_ok("0.1 EUR", 10, "EUR");        /* exactly, no binary fraction anywhere */
	parse_ok("12.30 EUR", 1230, "EUR");
	parse_ok("12.3 EUR", 1230, "EUR");
	parse_ok("50000 EUR", 5000000, "EUR");
	parse_ok("50000.00 EUR", 5000000, "EUR");
	parse_ok("0 EUR", 0, "EUR");
	parse_ok("-0.05 EUR", -5, "EUR");
	parse_ok("1200000 VND", 1200000, "VND");
	parse_ok("500 JPY", 500, "JPY");
	parse_ok("1.234 KWD", 1234, "KWD");
	parse_ok("0.5 BHD", 500, "BHD");
	parse_ok("1.2345 CLF", 12345, "CLF");
	parse_ok("189.00 NOK", 18900, "NOK");
	parse_ok("007.50 EUR", 750, "EUR");
	/* the largest amount there is, and its negative */
	parse_ok("92233720368547758.07 EUR", INT64_MAX, "EUR");
	parse_ok("-92233720368547758.07 EUR", -INT64_MAX, "EUR");
	parse_ok("9223372036854775807 VND", INT64_MAX, "VND");
}

static void test_parse_errors(void **state) {
	(void) state;
	const char *syntax = "expected an amount and currency";
	parse_bad("0.85", syntax);
	parse_bad("0.85EUR", syntax);
	parse_bad("0.85  EUR", syntax);
	parse_bad(" 0.85 EUR", syntax);
	parse_bad("0.85 EUR ", syntax);
	parse_bad("0.85 eur", syntax);
	parse_bad("0.85 EURO", syntax);
	parse_bad("0,85 EUR", syntax);
	parse_bad("1 000 EUR", syntax);
	parse_bad("1e3 EUR", syntax);
	parse_bad(".85 EUR", syntax);
	parse_bad("1. EUR", syntax);
	parse_bad("+1 EUR", syntax);
	parse_bad("- 1 EUR", syntax);
	parse_bad("-EUR", syntax);
	parse_bad("EUR 5", syntax);
	parse_bad("", syntax);
	parse_bad(NULL, syntax);
	parse_bad("1 EUX", "unknown currency");
	parse_bad("1 XAU", "unknown currency");   /* gold has no minor unit */
	parse_bad("0.855 EUR", "too many decimals");
	parse_bad("0.850 EUR", "too many decimals");
	parse_bad("1.5 VND", "too many decimals");
	parse_bad("1.2345 KWD", "too many decimals");
	parse_bad("92233720368547758.08 EUR", "amount out of range");
	parse_bad("9223372036854775808 VND", "amount out of range");
	parse_bad("99999999999999999999999999 EUR", "amount out of range");
	parse_bad("-92233720368547758.08 EUR", "amount out of range");
}

static void test_exponent(void **state) {
	(void) state;
	assert_int_equal(money_exponent("EUR"), 2);
	assert_int_equal(money_exponent("NOK"), 2);
	assert_int_equal(money_exponent("USD"), 2);
	assert_int_equal(money_exponent("VND"), 0);
	assert_int_equal(money_exponent("JPY"), 0);
	assert_int_equal(money_exponent("KRW"), 0);
	assert_int_equal(money_exponent("ISK"), 0);
	assert_int_equal(money_exponent("CLP"), 0);
	assert_int_equal(money_exponent("BHD"), 3);
	assert_int_equal(money_exponent("KWD"), 3);
	assert_int_equal(money_exponent("OMR"), 3);
	assert_int_equal(money_exponent("JOD"), 3);
	assert_int_equal(money_exponent("TND"), 3);
	assert_int_equal(money_exponent("LYD"), 3);
	assert_int_equal(money_exponent("IQD"), 3);
	assert_int_equal(money_exponent("CLF"), 4);
	assert_int_equal(money_exponent("AED"), 2);   /* first in the table */
	assert_int_equal(money_exponent("ZWL"), 2);   /* last */
	assert_int_equal(money_exponent("EUX"), -ENOENT);
	assert_int_equal(money_exponent("eur"), -ENOENT);
	assert_int_equal(money_exponent(""), -ENOENT);
	assert_int_equal(money_exponent("EURO"), -ENOENT);
	assert_int_equal(money_exponent(NULL), -ENOENT);
}

static void format_is(int64_t minor, const char *currency, const char *want) {
	money m = { .minor = minor };
	char buf[32];
	strcpy(m.currency, currency);
	assert_string_equal(money_format_amount(&m, buf, sizeof(buf)), want);
}

static void test_format(void **state) {
	(void) state;
	format_is(85, "EUR", "0.85");
	format_is(1230, "EUR", "12.30");
	format_is(5000000, "EUR", "50000.00");
	format_is(0, "EUR", "0.00");
	format_is(-5, "EUR", "-0.05");
	format_is(-123456, "EUR", "-1234.56");
	format_is(1200000, "VND", "1200000");
	format_is(-7, "JPY", "-7");
	format_is(1234, "KWD", "1.234");
	format_is(5, "KWD", "0.005");
	format_is(12345, "CLF", "1.2345");
	format_is(INT64_MAX, "EUR", "92233720368547758.07");
	format_is(INT64_MIN, "EUR", "-92233720368547758.08");
	format_is(0, "", "0.00");      /* an absent credit limit */

	/* format(parse(s)) == s for canonical strings */
	const char *canon[] = { "0.85 EUR", "12.30 EUR", "1200000 VND", "-0.05 EUR", "1.234 KWD", NULL };
	for (size_t i = 0; canon[i]; i++) {
		money m;
		char buf[32], back[40];
		assert_int_equal(money_parse(canon[i], &m, NULL), 0);
		snprintf(back, sizeof(back), "%s %s", money_format_amount(&m, buf, sizeof(buf)), m.currency);
		assert_string_equal(back, canon[i]);
	}

	/* a short buffer truncates, never overflows */
	money m = { .minor = 123456, .currency = "EUR" };
	char small[5];
	assert_string_equal(money_format_amount(&m, small, sizeof(small)), "1234");
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_exponent),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
