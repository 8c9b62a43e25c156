/* tasks STATE_DIR: prints the store's tasks, one JSON object a line (the wire's
 * Task view), in due order. Opens the store read-only, so it runs beside the
 * daemon; the integration tests read tasks with it whatever the socket offers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "lib/sales/crm.h"
#include "lib/store/store.h"

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: tasks STATE_DIR\n");
		return 2;
	}
	store_options o = { .flags = STORE_READONLY };
	store *s;
	store_txn *t = NULL;
	json_t *arr = json_array();
	bool more = false;
	int r = arr ? store_open(argv[1], &o, &s) : -ENOMEM;
	if (r == 0 && (r = store_begin(s, false, &t)) == 0) {
		r = crm_task_list(t, NULL, -1, INT64_MAX, NULL, NULL, 100000, arr, &more);
		store_abort(t);
	}
	if (r < 0) {
		fprintf(stderr, "tasks: %s\n", strerror(-r));
		return 1;
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		char *text = json_dumps(json_array_get(arr, i), JSON_COMPACT);
		if (!text)
			return 1;
		puts(text);
		free(text);
	}
	json_decref(arr);
	store_close(s);
	return more ? 1 : 0;
}
