/* The compiled unit's reader (lib/defs/pack.h, version 3) from arbitrary bytes:
 * the whole unit (defs_unit_unpack) and each standing order's section alone
 * (defs_bulk_unpack), zones looked up under the example standingd.yaml (conf/).
 * Invariants: a refusal is -EBADMSG or -EPROTO (-ERANGE for a position past the
 * table), never a crash, a leak or a read outside the value (the replay copies
 * the input to an exact-size buffer); an accepted unit packs again to the same
 * bytes, and each of its sections read alone equals its standing order. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/defs/defs.h"
#include "lib/defs/pack.h"
#include "tests/fuzz/fuzz.h"

static defs *base;

static void load_base(void) {
	if (base)
		return;
	FILE *f = fopen(SRCDIR "/conf/standingd.yaml", "rb");
	FUZZ_CHECK(f, "cannot open %s", SRCDIR "/conf/standingd.yaml");
	static char buf[65536];
	defs_file conf = { .name = "standingd.yaml", .data = buf };
	conf.len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	diag_list dl = { 0 };
	int r = defs_load_files(&conf, 1, NULL, &base, &dl);
	diag_list_clear(&dl);
	FUZZ_CHECK(r == 0, "conf/standingd.yaml: %d", r);
}

static bool str_same(const char *a, const char *b) {
	return a == b || (a && b && !strcmp(a, b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	load_base();
	uint8_t *p = malloc(size ? size : 1);
	FUZZ_CHECK(p, "out of memory");
	memcpy(p, data, size);
	struct defs_arena *a = NULL;
	for (size_t pos = 0; pos < 4; pos++) {
		so_bulk b;
		int r = defs_bulk_unpack(p, size, pos, &a, &b);
		FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EPROTO || r == -ERANGE, "defs_bulk_unpack: %d", r);
	}
	defs_unit u;
	int r = defs_unit_unpack(base, p, size, &u);
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EPROTO, "defs_unit_unpack: %d", r);
	if (r == 0) {
		uint8_t *q;
		size_t n;
		FUZZ_CHECK(defs_unit_pack(&u, &q, &n) == 0, "an unpacked unit does not pack");
		FUZZ_CHECK(n == size && !memcmp(q, p, n), "packed otherwise (%zu bytes, read %zu)", n, size);
		free(q);
		for (size_t i = 0; i < u.n_orders; i++) {
			so_bulk b;
			const standing_order *so = &u.orders[i].o;
			FUZZ_CHECK(defs_bulk_unpack(p, size, i, &a, &b) == 0, "section %zu of a good unit refused", i);
			FUZZ_CHECK(b.n_lines == so->bulk->n_lines && b.n_reminders == so->bulk->n_reminders &&
				   str_same(b.placed_by, so->bulk->placed_by) && b.line == so->bulk->line &&
				   str_same(b.ship_to.name, so->bulk->ship_to.name),
				   "section %zu differs from the unit's standing order", i);
		}
		FUZZ_CHECK(defs_bulk_unpack(p, size, u.n_orders, &a, &(so_bulk) { 0 }) == -ERANGE, "past the table");
		defs_unit_done(&u);
	}
	defs_arena_free(a);
	free(p);
	return 0;
}
