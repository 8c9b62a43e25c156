#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "lib/base/jfield.h"

void jfield_set(json_t *o, const char *k, json_t *v, bool *ok) {
	if (!o || json_object_set_new(o, k, v) < 0)
		*ok = false;
}

json_t *jfield_str_or_null(const char *s) {
	return s ? json_string(s) : json_null();
}

int jfield_str(json_t *o, const char *k, bool nullable, char **ret) {
	json_t *v = json_object_get(o, k);
	if (nullable && (!v || json_is_null(v))) {
		*ret = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return -EBADMSG;
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return -EBADMSG;   /* embedded NUL */
	char *d = strdup(s);
	if (!d)
		return -ENOMEM;
	*ret = d;
	return 0;
}

int jfield_int(json_t *o, const char *k, int64_t *ret) {
	json_t *v = json_object_get(o, k);
	if (!json_is_integer(v))
		return -EBADMSG;
	*ret = json_integer_value(v);
	return 0;
}

int jfield_bool(json_t *o, const char *k, bool *ret) {
	json_t *v = json_object_get(o, k);
	if (!json_is_boolean(v))
		return -EBADMSG;
	*ret = json_is_true(v);
	return 0;
}
