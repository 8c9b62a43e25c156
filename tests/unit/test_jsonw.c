/* jsonw: the bytes are jansson's json_dumps(JSON_COMPACT) of the same values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "lib/base/jsonw.h"

static void same_as_jansson(jsonw *w, json_t *v) {
	char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_non_null(want);
	assert_false(w->b.oom);
	assert_string_equal(w->b.s, want);
	free(want);
	json_decref(v);
}

/* Every ASCII byte, alone and between others, escaped as jansson escapes it. */
static void test_escapes(void **state) {
	(void) state;
	for (int ch = 1; ch < 0x80; ch++) {
		char s[8] = { 'a', (char) ch, 'b', (char) ch, 0 };
		jsonw w = { 0 };
		jsonw_str(&w, s);
		same_as_jansson(&w, json_string(s));
		free(w.b.s);
	}
	/* long enough to grow the buffer in the middle of a string */
	char *long_s = malloc(30001);
	assert_non_null(long_s);
	for (size_t i = 0; i < 30000; i++)
		long_s[i] = (char) (i % 3 == 0 ? 0x01 : i % 3 == 1 ? '"' : 'x');
	long_s[30000] = 0;
	jsonw lw = { 0 };
	jsonw_obj_open(&lw);
	jsonw_kstr(&lw, long_s, long_s);
	jsonw_obj_close(&lw);
	same_as_jansson(&lw, json_pack("{s:s}", long_s, long_s));
	free(lw.b.s);
	free(long_s);
	const char *utf8[] = { "", "h\xc3\xa4r", "\xe2\x80\xa8/\x7f\xc2\x9b", "\xf0\x9f\x98\x80\"\\", "a/b" };
	for (size_t i = 0; i < sizeof(utf8) / sizeof(*utf8); i++) {
		jsonw w = { 0 };
		jsonw_str(&w, utf8[i]);
		same_as_jansson(&w, json_string(utf8[i]));
		free(w.b.s);
	}
}

/* Nesting, commas, null, booleans, integers at their limits, raw values. */
static void test_structure(void **state) {
	(void) state;
	jsonw w = { 0 };
	jsonw_obj_open(&w);
	jsonw_kstr(&w, "a", "x");
	jsonw_kstr(&w, "n", NULL);
	jsonw_key(&w, "list");
	jsonw_arr_open(&w);
	jsonw_int(&w, INT64_MIN);
	jsonw_int(&w, INT64_MAX);
	jsonw_obj_open(&w);
	jsonw_obj_close(&w);
	jsonw_arr_open(&w);
	jsonw_arr_close(&w);
	jsonw_bool(&w, true);
	jsonw_raw(&w, "{\"r\":1}", 7);
	jsonw_arr_close(&w);
	jsonw_key(&w, "o");
	jsonw_obj_open(&w);
	jsonw_kint(&w, "z", 0);
	jsonw_key(&w, "f");
	jsonw_bool(&w, false);
	jsonw_obj_close(&w);
	jsonw_key(&w, "q\"\n");
	jsonw_null(&w);
	jsonw_obj_close(&w);
	json_t *v = json_pack("{s:s, s:n, s:[I, I, {}, [], b, {s:i}], s:{s:i, s:b}, s:n}", "a", "x", "n", "list",
			      (json_int_t) INT64_MIN, (json_int_t) INT64_MAX, 1, "r", 1, "o", "z", 0, "f", 0, "q\"\n");
	same_as_jansson(&w, v);
	free(w.b.s);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_structure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
