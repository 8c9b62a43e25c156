/* The compact records' decoders (issue 12, doc/store.md "Compact records"): an
 * order's two parts and a ledger entry, from arbitrary bytes. The first byte
 * picks the record (even: an order, odd: a ledger entry); for an order the
 * second says where its own part ends and the shared part begins. Invariants:
 * a refusal is -EBADMSG (never a crash, a leak or another error); what is
 * accepted has one spelling, so encoding it again gives the same bytes. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "lib/base/bytes.h"
#include "lib/model/order.h"
#include "tests/fuzz/fuzz.h"

static const char NUMBER[] = "SO-00000042-7";

static void check_order(const uint8_t *p, size_t n) {
	if (n < 1)
		return;
	size_t cut = p[0] < n ? p[0] : n - 1;
	const uint8_t *rec = p + 1, *sh = p + 1 + cut;
	size_t n_rec = cut, n_sh = n - 1 - cut;
	sales_order *o = NULL;
	int r = order_bin_decode(NUMBER, rec, n_rec, sh, n_sh, &o);
	FUZZ_CHECK(r == 0 || r == -EBADMSG, "order_bin_decode: %d", r);
	if (r < 0)
		return;
	FUZZ_CHECK(!strcmp(o->number, NUMBER), "number %s", o->number);
	bytes_buf a, b;
	bytes_init(&a, NULL, 0);
	bytes_init(&b, NULL, 0);
	r = order_bin_encode(o, NULL, &a, &b);
	FUZZ_CHECK(r == 0, "an order read does not encode: %d", r);
	FUZZ_CHECK(a.n == n_rec && !memcmp(a.p, rec, n_rec), "own part spelled otherwise (%zu bytes, read %zu)", a.n, n_rec);
	FUZZ_CHECK(b.n == n_sh && !memcmp(b.p, sh, n_sh), "shared part spelled otherwise (%zu bytes, read %zu)", b.n, n_sh);
	bytes_free(&a);
	bytes_free(&b);
	order_free(o);
}

static void check_ledger(const uint8_t *p, size_t n) {
	ledger_entry e;
	uint64_t seq = 7;
	int r = ledger_entry_bin_decode(p, n, seq, &e);
	FUZZ_CHECK(r == 0 || r == -EBADMSG, "ledger_entry_bin_decode: %d", r);
	if (r < 0)
		return;
	FUZZ_CHECK(e.seq == seq, "seq %" PRIu64, e.seq);
	bytes_buf b;
	bytes_init(&b, NULL, 0);
	r = ledger_entry_bin_encode(&e, &b);
	FUZZ_CHECK(r == 0, "an entry read does not encode: %d", r);
	FUZZ_CHECK(b.n == n && !memcmp(b.p, p, n), "entry spelled otherwise (%zu bytes, read %zu)", b.n, n);
	bytes_free(&b);
	ledger_entry_done(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (size < 1 || size > 65536)
		return -1;
	if (data[0] % 2 == 0)
		check_order(data + 1, size - 1);
	else
		check_ledger(data + 1, size - 1);
	return 0;
}
