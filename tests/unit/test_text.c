/* text: the control-character rule and the output escapes, exact strings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "lib/base/text.h"

static void test_check(void **state) {
	(void) state;
	char msg[TEXT_MSG_MAX];
	/* plain text, Latvian, Vietnamese, the euro sign (E2 82 AC: a 0x82 inside a
	 * sequence is no C1) and an emoji are fine */
	static const char *const ok[] = { "Acme Oy", "Rīga", "Đà Nẵng", "12 €", "🚚 x", "", "a\\b" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(text_check(ok[i], strlen(ok[i]), msg), 0);
		assert_string_equal(msg, "");
	}
	static const struct { const char *s; const char *msg; size_t at; } bad[] = {
		{ "a\x1b[31m", "unexpected control character U+001B in string", 1 },
		{ "\a", "unexpected control character U+0007 in string", 0 },
		{ "x\r\n", "unexpected control character U+000D in string", 1 },
		{ "x\ny", "unexpected control character U+000A in string", 1 },
		{ "tab\there", "unexpected control character U+0009 in string", 3 },
		{ "del\x7f", "unexpected control character U+007F in string", 3 },
		{ "csi\xc2\x9b" "31m", "unexpected control character U+009B in string", 3 },
		{ "nel\xc2\x85", "unexpected control character U+0085 in string", 3 },
		{ "stray\x9b", "unexpected control character U+009B in string", 5 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(text_check(bad[i].s, strlen(bad[i].s), msg), -EINVAL);
		assert_string_equal(msg, bad[i].msg);
		size_t at;
		uint32_t cp;
		assert_true(text_find_control(bad[i].s, strlen(bad[i].s), &at, &cp));
		assert_int_equal(at, bad[i].at);
	}
	/* U+00A0 (C2 A0) is no control; NUL inside the length is */
	assert_int_equal(text_check("a\xc2\xa0" "b", 4, msg), 0);
	assert_int_equal(text_check("a\0b", 3, msg), -EINVAL);
	assert_string_equal(msg, "unexpected control character U+0000 in string");
}

static void expect(char *got, const char *want) {
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_terminal(void **state) {
	(void) state;
	expect(text_escape_terminal("Acme Oy"), "Acme Oy");
	expect(text_escape_terminal(""), "");
	expect(text_escape_terminal("\x1b[2J\x1b]0;pwned\a"), "\\x1b[2J\\x1b]0;pwned\\x07");
	expect(text_escape_terminal("a\r\nb\tc\x7f"), "a\\x0d\\x0ab\\x09c\\x7f");
	expect(text_escape_terminal("\xc2\x9b" "31m Rīga €"), "\\u009b31m Rīga €");
	expect(text_escape_terminal("back\\slash"), "back\\slash");
	expect(text_escape_terminal("stray\x85"), "stray\\x85");
}

static void test_json(void **state) {
	(void) state;
	expect(text_escape_json("{\"a\":\"x\\u001b\"}"), "{\"a\":\"x\\u001b\"}");
	expect(text_escape_json("{\"a\":\"x\x7f\xc2\x9b€\"}"), "{\"a\":\"x\\u007f\\u009b€\"}");
}

static void test_ics(void **state) {
	(void) state;
	expect(text_ics_property("SUMMARY", "Deliver to Acme, Inc; 3 x bulbs\\lamps"),
	       "SUMMARY:Deliver to Acme\\, Inc\\; 3 x bulbs\\\\lamps\r\n");
	expect(text_ics_property("DESCRIPTION", "Status: created\nOrder: X\r\nA\rB"),
	       "DESCRIPTION:Status: created\\nOrder: X\\nA\\nB\r\n");
	/* other controls are dropped */
	expect(text_ics_property("LOCATION", "Main\x1b[31m St\a\t1\x7f\xc2\x9b"), "LOCATION:Main[31m St1\r\n");
	/* 75 octets a line: "SUMMARY:" is 8, so 67 x, then a space and up to 74 more */
	char in[200];
	memset(in, 'x', 150);
	in[150] = 0;
	char want[300];
	snprintf(want, sizeof(want), "SUMMARY:%.67s\r\n %.74s\r\n %.9s\r\n", in, in, in);
	expect(text_ics_property("SUMMARY", in), want);
	/* 8 + 66 octets, then a 2-octet "ä" that would end at octet 76: it moves whole */
	char in2[200], want2[300];
	memset(in2, 'y', 66);
	strcpy(in2 + 66, "ää");
	snprintf(want2, sizeof(want2), "SUMMARY:%.66s\r\n ää\r\n", in2);
	expect(text_ics_property("SUMMARY", in2), want2);
	/* 8 + 64 octets, then a 4-octet emoji */
	char in3[200], want3[300];
	memset(in3, 'z', 64);
	strcpy(in3 + 64, "🚚");
	snprintf(want3, sizeof(want3), "SUMMARY:%.64s\r\n 🚚\r\n", in3);
	expect(text_ics_property("SUMMARY", in3), want3);
	/* 8 + 65 octets and "ä" ends exactly at octet 75: no fold */
	in2[65] = 0;
	strcat(in2, "ä");
	snprintf(want2, sizeof(want2), "SUMMARY:%s\r\n", in2);
	expect(text_ics_property("SUMMARY", in2), want2);
}

/* The one UTF-8 check: RFC 3629's well-formed sequences, nothing else. */
static void test_utf8_seq(void **state) {
	(void) state;
	uint32_t cp = 0;
	assert_int_equal(text_utf8_seq("A", 1, &cp), 1);
	assert_int_equal(cp, 0x41);
	assert_int_equal(text_utf8_seq("\xc3\xa4", 2, &cp), 2);          /* U+00E4 */
	assert_int_equal(cp, 0xE4);
	assert_int_equal(text_utf8_seq("\xe1\xbb\x85", 3, &cp), 3);     /* U+1EC5 */
	assert_int_equal(cp, 0x1EC5);
	assert_int_equal(text_utf8_seq("\xf4\x8f\xbf\xbf", 4, &cp), 4); /* U+10FFFF */
	assert_int_equal(cp, 0x10FFFF);
	assert_int_equal(text_utf8_seq("\xc2\x85", 2, &cp), 2);          /* C1 is UTF-8 */
	assert_int_equal(cp, 0x85);
	assert_int_equal(text_utf8_seq("\xc3\xa4", 1, NULL), 0);         /* cut */
	assert_int_equal(text_utf8_seq("", 0, NULL), 0);
	assert_int_equal(text_utf8_seq("\xc0\x80", 2, NULL), 0);         /* overlong */
	assert_int_equal(text_utf8_seq("\xe0\x9f\xbf", 3, NULL), 0);     /* overlong */
	assert_int_equal(text_utf8_seq("\xf0\x8f\xbf\xbf", 4, NULL), 0); /* overlong */
	assert_int_equal(text_utf8_seq("\xed\xa0\x80", 3, NULL), 0);     /* surrogate */
	assert_int_equal(text_utf8_seq("\xf4\x90\x80\x80", 4, NULL), 0); /* past U+10FFFF */
	assert_int_equal(text_utf8_seq("\xf5\x80\x80\x80", 4, NULL), 0);
	assert_int_equal(text_utf8_seq("\x80", 1, NULL), 0);
	assert_int_equal(text_utf8_seq("\xc3" "A", 2, NULL), 0);
	assert_int_equal(text_utf8_prefix("ab\xc3\xa4\xffz", 6), 4);
	assert_int_equal(text_utf8_prefix("ab\xc3\xa4", 4), 4);
	assert_int_equal(text_utf8_prefix("ab\xc3", 3), 2);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_seq),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_terminal),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_ics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
