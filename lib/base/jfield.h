/* jfield: reading and building JSON objects field by field (jansson), the one set
 * of helpers the store's records and the order model's codec share. Readers return
 * 0, -EBADMSG (absent, wrong type, a string with an embedded NUL) or -ENOMEM, and
 * leave *ret untouched on failure. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Sets o[k] = v, taking v's reference; a NULL v (a failed constructor) or a failed
 * insert sets *ok false, so a builder needs one check at the end. */
void jfield_set(json_t *o, const char *k, json_t *v, bool *ok);
/* A string, or JSON null for NULL. */
json_t *jfield_str_or_null(const char *s);
/* o[k] as a malloc'd string; nullable: an absent or null field is NULL. */
int jfield_str(json_t *o, const char *k, bool nullable, char **ret);
int jfield_int(json_t *o, const char *k, int64_t *ret);
int jfield_bool(json_t *o, const char *k, bool *ret);
