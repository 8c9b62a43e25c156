/* outbox STATE_DIR: prints the store's outbox events, one JSON object a line, in
 * append order: {"seq": N, "type": "order.created", "at": UNIX, "payload": {...}}.
 * Opens the store read-only, so it runs beside the daemon. For the integration
 * tests of events that have no reader on the socket (order.payment_overdue ...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "lib/store/store.h"

static int print_event(uint64_t seq, const char *type, const char *payload_json, int64_t at, void *ud) {
	(void) ud;
	json_error_t err;
	json_t *p = json_loads(payload_json, 0, &err);
	json_t *e = json_pack("{s:I, s:s, s:I, s:o}", "seq", (json_int_t) seq, "type", type, "at", (json_int_t) at,
			      "payload", p ? p : json_string(payload_json));
	char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
	json_decref(e);
	if (!text)
		return -1;
	puts(text);
	free(text);
	return 0;
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: outbox STATE_DIR\n");
		return 2;
	}
	store_options o = { .flags = STORE_READONLY };
	store *s;
	store_txn *t = NULL;
	int r = store_open(argv[1], &o, &s);
	if (r == 0 && (r = store_begin(s, false, &t)) == 0) {
		r = store_outbox_each(t, 0, print_event, NULL);
		store_abort(t);
	}
	if (r < 0) {
		fprintf(stderr, "outbox: %s\n", strerror(-r));
		return 1;
	}
	store_close(s);
	return 0;
}
