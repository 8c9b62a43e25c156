/* errtext: every error reply standingctl can receive (lib/api/api_idl.h and
 * org.varlink.service.*) as a sentence, with its parameters filled in. One table
 * (errtext.c); an error the table does not know, or whose parameters do not fit its
 * sentence, is printed as the daemon sent it, escaped. */
#pragma once
#include <jansson.h>

typedef struct errtext_ctx {
	const char *method;     /* the full method called, io.standingd.Ops.Status */
	json_t *call_params;    /* what was sent: InvalidParameter names the value given */
	const char *user;       /* the caller's Unix user, for PermissionDenied */
} errtext_ctx;

/* The lines to print to standard error, each ending with '\n': the sentence begins
 * with "standingctl: " (lines a definition error carries come before it as they
 * are, FILE:LINE:COL: message; field errors after it, indented), malloc'd, and
 * the exit code in *ret_exit (1 a refused request, 3 the daemon unavailable).
 * NULL only when out of memory. */
char *errtext_format(const errtext_ctx *c, const char *error, json_t *params, int *ret_exit);
