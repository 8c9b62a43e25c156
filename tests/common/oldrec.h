/* oldrec: a record as the store before issue 12's compact records wrote it (JSON:
 * "v":1, then the codec's members), for the tests and the tool (tests/tools/
 * old_records) that make such stores. NULL when fields is NULL (the codec refused
 * a string) or out of memory. Takes fields. */
#pragma once
#include <jansson.h>

static inline char *old_record_text(json_t *fields) {
	if (!fields)
		return NULL;
	json_t *j = json_pack("{s:i}", "v", 1);
	char *s = j && json_object_update(j, fields) == 0 ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(fields);
	json_decref(j);
	return s;
}
