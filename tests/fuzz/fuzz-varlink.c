/* The Varlink reader and dispatch: the input is a client's byte stream, fed to a
 * vl_reader in pieces of varying size; every message it yields is handled by the
 * real io.standingd service over a fresh store (fuzz-daemon). An input that starts
 * with '#' names the caller's role on its first line ("#supplier", "#shop",
 * "#nobody"; otherwise root).
 * Invariants: every output message is one NUL-terminated JSON object with either
 * "parameters" or "error" (an "interface.Name"), and never InternalError: garbage
 * is the client's fault, always; a call that is not oneway gets exactly one final
 * reply (more than one only with "continues"); the reader gives back exactly the
 * NUL-delimited pieces of the stream, whatever the piece sizes; afterwards
 * store_verify finds the store intact. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz-daemon.h"

#define MAX_MESSAGE (1 << 20)

typedef struct sink {
	size_t finals, continues;
} sink;

static void on_send(void *ud, const char *buf, size_t len) {
	sink *s = ud;
	FUZZ_CHECK(len >= 1 && buf[len - 1] == 0, "a message must end in NUL (len %zu)", len);
	FUZZ_CHECK(memchr(buf, 0, len) == buf + len - 1, "a NUL inside a message");
	json_error_t jerr;
	json_t *j = json_loadb(buf, len - 1, 0, &jerr);
	FUZZ_CHECK(j && json_is_object(j), "reply is no JSON object: %.200s", buf);
	json_t *err = json_object_get(j, "error"), *params = json_object_get(j, "parameters");
	FUZZ_CHECK(err || params, "reply without error or parameters: %.200s", buf);
	if (err) {
		const char *name = json_string_value(err);
		FUZZ_CHECK(name && strchr(name, '.'), "error name: %.200s", buf);
		FUZZ_CHECK(strcmp(name, "io.standingd.InternalError"), "InternalError: %.300s", buf);
	}
	if (json_is_true(json_object_get(j, "continues"))) {
		FUZZ_CHECK(!err, "an error with continues: %.200s", buf);
		s->continues++;
	} else {
		s->finals++;
	}
	json_decref(j);
}

static fuzz_role role_from(const uint8_t **data, size_t *size) {
	if (*size == 0 || (*data)[0] != '#')
		return FUZZ_OPS;
	const uint8_t *nl = memchr(*data, '\n', *size);
	size_t n = nl ? (size_t) (nl - *data) : *size;
	fuzz_role r = FUZZ_OPS;
	if (n == 9 && !memcmp(*data, "#supplier", 9))
		r = FUZZ_SUPPLIER;
	else if (n == 5 && !memcmp(*data, "#shop", 5))
		r = FUZZ_SHOP;
	else if (n == 7 && !memcmp(*data, "#nobody", 7))
		r = FUZZ_NOBODY;
	n += nl ? 1 : 0;
	*data += n;
	*size -= n;
	return r;
}

/* Whether a well-formed envelope asks for no reply: then none may come. */
static bool is_oneway(const char *msg, size_t len) {
	vl_call call;
	const char *bad;
	if (vl_call_parse(msg, len, &call, &bad) < 0)
		return false;
	bool oneway = call.oneway;
	vl_call_clear(&call);
	return oneway;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz_role role = role_from(&data, &size);
	fuzz_daemon fd;
	fuzz_daemon_start(&fd);
	vl_reader rd;
	vl_reader_init(&rd, MAX_MESSAGE);
	/* piece sizes 1, 2, 3, ... 17, 1, ...: every split point gets exercised */
	size_t off = 0, piece = 1, messages = 0, nuls = 0;
	for (size_t i = 0; i < size; i++)
		nuls += data[i] == 0;
	bool closed = false;
	while (off < size && !closed) {
		size_t n = size - off < piece ? size - off : piece;
		piece = piece % 17 + 1;
		FUZZ_CHECK(vl_reader_feed(&rd, data + off, n) == 0, "feed");
		off += n;
		for (;;) {
			const char *msg;
			size_t len;
			int r = vl_reader_next(&rd, &msg, &len);
			if (r == 0)
				break;
			if (r == -EMSGSIZE) {
				closed = true;   /* the daemon answers and closes */
				break;
			}
			FUZZ_CHECK(r == 1, "vl_reader_next: %d", r);
			FUZZ_CHECK(len <= MAX_MESSAGE && msg[len] == 0 && !memchr(msg, 0, len),
				   "message framing (len %zu)", len);
			messages++;
			sink s = { 0 };
			bool oneway = is_oneway(msg, len);
			r = vl_service_handle(fd.d.svc, msg, len, on_send, &s, &fd.peers[role]);
			FUZZ_CHECK(r == 0, "vl_service_handle: %s", strerror(-r));
			if (oneway)
				FUZZ_CHECK(s.finals == 0 && s.continues == 0, "a oneway call was answered");
			else
				FUZZ_CHECK(s.finals == 1, "%zu final replies", s.finals);
		}
	}
	if (!closed)
		FUZZ_CHECK(messages == nuls, "%zu messages from %zu NULs", messages, nuls);
	vl_reader_free(&rd);
	fuzz_daemon_verify(&fd);
	fuzz_daemon_stop(&fd);
	return 0;
}
