/* A standing-order definition sent through io.standingd.Orders.PlaceStandingOrder:
 * the input is the "definition" value (JSON text), placed by the shop user over a
 * fresh store (fuzz-daemon) the way the daemon validates and applies it.
 * Invariants: the answer is a success naming the definition's id, or
 * InvalidDefinition with at least one {field, message}, each non-empty, or
 * InvalidParameter (the definition is no object), or PermissionDenied when the id
 * is a standing order of the YAML files; never InternalError. An accepted
 * one is listed by ListStandingOrders as an API order, placing it again changes
 * nothing (same reply), and CancelStandingOrder removes it; store_verify finds the
 * store intact afterwards. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz-daemon.h"

typedef struct answer {
	json_t *last;
	size_t n;
} answer;

static void on_send(void *ud, const char *buf, size_t len) {
	answer *a = ud;
	FUZZ_CHECK(len >= 1 && buf[len - 1] == 0, "no NUL");
	json_t *j = json_loadb(buf, len - 1, 0, NULL);
	FUZZ_CHECK(j && json_is_object(j), "reply is no JSON object: %.200s", buf);
	const char *err = json_string_value(json_object_get(j, "error"));
	FUZZ_CHECK(!err || strcmp(err, "io.standingd.InternalError"), "InternalError: %.300s", buf);
	json_decref(a->last);
	a->last = j;
	a->n++;
}

/* Sends {"method": method, "parameters": params} (params stolen); the one reply. */
static json_t *call(fuzz_daemon *fd, fuzz_role role, const char *method, json_t *params) {
	json_t *msg = json_pack("{s:s, s:o}", "method", method, "parameters", params);
	char *text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	FUZZ_CHECK(text, "json_dumps");
	answer a = { 0 };
	int r = vl_service_handle(fd->d.svc, text, strlen(text), on_send, &a, &fd->peers[role]);
	FUZZ_CHECK(r == 0, "vl_service_handle %s: %d", method, r);
	FUZZ_CHECK(a.n == 1, "%s: %zu replies", method, a.n);
	free(text);
	return a.last;
}

static const char *jstr(json_t *obj, const char *key) {
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

static const char *error_of(json_t *reply) {
	return json_string_value(json_object_get(reply, "error"));
}

static bool listed_from_api(fuzz_daemon *fd, const char *id) {
	json_t *r = call(fd, FUZZ_OPS, "io.standingd.Ops.ListStandingOrders", json_object());
	FUZZ_CHECK(!error_of(r), "ListStandingOrders failed");
	json_t *list = json_object_get(json_object_get(r, "parameters"), "standing_orders");
	bool found = false;
	size_t i;
	json_t *so;
	json_array_foreach(list, i, so) {
		if (!strcmp(jstr(so, "id"), id)) {
			FUZZ_CHECK(!strcmp(jstr(so, "source"), "api"),
				   "%s not listed as source api", id);
			found = true;
		}
	}
	json_decref(r);
	return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	json_t *def = json_loadb((const char *) data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!def)
		return -1;   /* no JSON: the Varlink harness covers that; keep it out of the corpus */
	fuzz_daemon fd;
	fuzz_daemon_start(&fd);
	/* a standing order of the YAML files: the shop may not replace it */
	const char *def_id = json_string_value(json_object_get(def, "id"));
	bool taken = def_id && defs_find_order(fd.d.defs, def_id);
	json_t *r = call(&fd, FUZZ_SHOP, "io.standingd.Orders.PlaceStandingOrder",
			 json_pack("{s:O}", "definition", def));
	const char *err = error_of(r);
	json_t *params = json_object_get(r, "parameters");
	if (!err) {
		const char *id = json_string_value(json_object_get(params, "standing_order"));
		FUZZ_CHECK(id && json_is_string(json_object_get(def, "id")) &&
			   !strcmp(id, json_string_value(json_object_get(def, "id"))), "reply names another id");
		char *sid = strdup(id);
		FUZZ_CHECK(listed_from_api(&fd, sid), "placed %s is not listed", sid);
		json_t *again = call(&fd, FUZZ_SHOP, "io.standingd.Orders.PlaceStandingOrder",
				     json_pack("{s:O}", "definition", def));
		FUZZ_CHECK(json_equal(again, r), "placing %s again answered differently", sid);
		json_decref(again);
		json_t *c = call(&fd, FUZZ_OPS, "io.standingd.Orders.CancelStandingOrder",
				 json_pack("{s:s}", "standing_order", sid));
		FUZZ_CHECK(!error_of(c), "cancelling %s: %s", sid, error_of(c));
		json_decref(c);
		FUZZ_CHECK(!listed_from_api(&fd, sid), "cancelled %s still listed", sid);
		free(sid);
	} else if (!strcmp(err, "io.standingd.Orders.InvalidDefinition")) {
		json_t *errors = json_object_get(params, "errors");
		FUZZ_CHECK(json_array_size(errors) > 0, "InvalidDefinition without errors");
		size_t i;
		json_t *e;
		json_array_foreach(errors, i, e) {
			const char *field = json_string_value(json_object_get(e, "field"));
			const char *msg = json_string_value(json_object_get(e, "message"));
			FUZZ_CHECK(field && msg && msg[0], "error %zu without field or message", i);
		}
	} else if (!strcmp(err, "io.standingd.PermissionDenied")) {
		FUZZ_CHECK(taken, "PermissionDenied for a new id");
	} else {
		FUZZ_CHECK(!strcmp(err, "org.varlink.service.InvalidParameter") && !json_is_object(def),
			   "unexpected %s", err);
	}
	json_decref(r);
	json_decref(def);
	fuzz_daemon_verify(&fd);
	fuzz_daemon_stop(&fd);
	return 0;
}
