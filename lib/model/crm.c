/* crm: tasks and interactions (doc/crm.md), their names and their one codec each. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/base/jfield.h"
#include "lib/model/crm.h"
#include "lib/model/order.h"
#include "lib/time/cal.h"

/* ---- names ---- */

static const char *const kind_names[] = {
	[TASK_BEFORE] = "before",
	[TASK_AFTER_SHIPPED] = "after_shipped",
	[TASK_ON_HOLD] = "on_hold",
	[TASK_PAYMENT_OVERDUE] = "payment_overdue",
	[TASK_MANUAL] = "manual",
	NULL,
};

static const char *const status_names[] = {
	[TASK_OPEN] = "open",
	[TASK_DONE] = "done",
	[TASK_CANCELLED] = "cancelled",
	NULL,
};

static const char *const action_names[] = {
	[TASK_ACT_CREATED] = "created",
	[TASK_ACT_SNOOZED] = "snoozed",
	[TASK_ACT_DONE] = "done",
	[TASK_ACT_CANCELLED] = "cancelled",
	NULL,
};

static const char *const interaction_names[] = {
	[INTERACTION_VISIT] = "visit",
	[INTERACTION_CALL] = "call",
	[INTERACTION_EMAIL] = "email",
	[INTERACTION_MEETING] = "meeting",
	[INTERACTION_NOTE] = "note",
	NULL,
};

const char *task_kind_name(task_kind k) {
	return model_name_of(kind_names, (unsigned) k);
}

int task_kind_parse(const char *s, task_kind *ret) {
	unsigned v;
	int r = model_name_parse(kind_names, s, &v);
	if (r == 0)
		*ret = (task_kind) v;
	return r;
}

const char *task_status_name(task_status s) {
	return model_name_of(status_names, (unsigned) s);
}

int task_status_parse(const char *s, task_status *ret) {
	unsigned v;
	int r = model_name_parse(status_names, s, &v);
	if (r == 0)
		*ret = (task_status) v;
	return r;
}

const char *task_action_name(task_action a) {
	return model_name_of(action_names, (unsigned) a);
}

static int task_action_parse(const char *s, task_action *ret) {
	unsigned v;
	int r = model_name_parse(action_names, s, &v);
	if (r == 0)
		*ret = (task_action) v;
	return r;
}

const char *interaction_kind_name(interaction_kind k) {
	return model_name_of(interaction_names, (unsigned) k);
}

int interaction_kind_parse(const char *s, interaction_kind *ret) {
	unsigned v;
	int r = model_name_parse(interaction_names, s, &v);
	if (r == 0)
		*ret = (interaction_kind) v;
	return r;
}

/* ---- task ids ---- */

void task_id_format(uint64_t n, char ret[TASK_ID_MAX]) {
	snprintf(ret, TASK_ID_MAX, "T-%08" PRIu64, n);
}

int task_id_parse(const char *s, uint64_t *ret) {
	if (!s || (s[0] != 'T' && s[0] != 't') || s[1] != '-')
		return -EINVAL;
	const char *d = s + 2;
	size_t n = strspn(d, "0123456789");
	/* one spelling per task: 8 digits, or more without padding */
	if (n < 8 || d[n] || n > 13 || (n > 8 && d[0] == '0'))
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint64_t) (d[i] - '0');
	if (v == 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* ---- tasks ---- */

static json_t *done(json_t *j, bool ok) {
	if (!ok) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static json_t *instant_view(int64_t at) {
	char text[CAL_ISO_MAX];
	return json_string(cal_format_utc(at, text));
}

static bool task_valid(const task *t) {
	return t && t->id[0] && t->assignee && t->customer && t->text && (unsigned) t->kind <= TASK_MANUAL &&
	       (unsigned) t->status <= TASK_CANCELLED && (t->n_history == 0 || t->history);
}

static json_t *history_json(const task *t, bool view) {
	json_t *a = json_array();
	bool ok = a != NULL;
	for (size_t i = 0; ok && i < t->n_history; i++) {
		const task_step *s = &t->history[i];
		json_t *o = json_object();
		ok = o != NULL;
		jfield_set(o, "at", view ? instant_view(s->at) : json_integer(s->at), &ok);
		jfield_set(o, "by", json_string(s->by ? s->by : ""), &ok);
		jfield_set(o, "action", json_string(task_action_name(s->action)), &ok);
		jfield_set(o, "note", jfield_str_or_null(s->note), &ok);
		if (!ok || json_array_append_new(a, o) < 0) {
			json_decref(o);
			ok = false;
		}
	}
	return done(a, ok);
}

static json_t *task_json(const task *t, bool view) {
	if (!task_valid(t))
		return NULL;
	json_t *j = json_object();
	bool ok = j != NULL;
	jfield_set(j, "id", json_string(t->id), &ok);
	jfield_set(j, "assignee", json_string(t->assignee), &ok);
	jfield_set(j, "customer", json_string(t->customer), &ok);
	jfield_set(j, "due", view ? instant_view(t->due) : json_integer(t->due), &ok);
	jfield_set(j, "text", json_string(t->text), &ok);
	jfield_set(j, "kind", json_string(task_kind_name(t->kind)), &ok);
	jfield_set(j, "order", jfield_str_or_null(t->order), &ok);
	jfield_set(j, "standing_order", jfield_str_or_null(t->standing_order), &ok);
	jfield_set(j, "delivery", t->kind != TASK_BEFORE ? json_null()
			: view ? instant_view(t->delivery) : json_integer(t->delivery), &ok);
	jfield_set(j, "status", json_string(task_status_name(t->status)), &ok);
	jfield_set(j, "created", view ? instant_view(t->created) : json_integer(t->created), &ok);
	jfield_set(j, "history", history_json(t, view), &ok);
	return done(j, ok);
}

json_t *task_to_record(const task *t) {
	return task_json(t, false);
}

json_t *task_to_view(const task *t) {
	return task_json(t, true);
}

static int fail(int r) {
	return r == -ENOMEM ? r : -EINVAL;
}

int task_from_record(json_t *j, task **ret) {
	if (!json_is_object(j) || !ret)
		return -EINVAL;
	task *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	char *id = NULL, *kind = NULL, *status = NULL;
	json_t *del = json_object_get(j, "delivery"), *hist = json_object_get(j, "history");
	int r;
	if ((r = jfield_str(j, "id", false, &id)) < 0 || (r = jfield_str(j, "assignee", false, &t->assignee)) < 0 ||
	    (r = jfield_str(j, "customer", false, &t->customer)) < 0 || (r = jfield_int(j, "due", &t->due)) < 0 ||
	    (r = jfield_str(j, "text", false, &t->text)) < 0 || (r = jfield_str(j, "kind", false, &kind)) < 0 ||
	    (r = jfield_str(j, "order", true, &t->order)) < 0 ||
	    (r = jfield_str(j, "standing_order", true, &t->standing_order)) < 0 ||
	    (r = jfield_str(j, "status", false, &status)) < 0 || (r = jfield_int(j, "created", &t->created)) < 0)
		goto out;
	uint64_t n;
	r = -EINVAL;
	if (task_id_parse(id, &n) < 0 || strlen(id) >= TASK_ID_MAX || task_kind_parse(kind, &t->kind) < 0 ||
	    task_status_parse(status, &t->status) < 0 || !json_is_array(hist))
		goto out;
	strcpy(t->id, id);
	if (t->kind == TASK_BEFORE) {
		if ((r = jfield_int(j, "delivery", &t->delivery)) < 0)
			goto out;
	} else if (del && !json_is_null(del))
		goto out;
	size_t i;
	json_t *s;
	json_array_foreach(hist, i, s) {
		int64_t at;
		char *by = NULL, *action = NULL, *note = NULL;
		task_action a = TASK_ACT_CREATED;
		if ((r = jfield_int(s, "at", &at)) < 0 || (r = jfield_str(s, "by", false, &by)) < 0 ||
		    (r = jfield_str(s, "action", false, &action)) < 0 || (r = jfield_str(s, "note", true, &note)) < 0 ||
		    (r = task_action_parse(action, &a)) < 0 || (r = task_add_step(t, at, by, a, note)) < 0) {
			free(by);
			free(action);
			free(note);
			goto out;
		}
		free(by);
		free(action);
		free(note);
	}
	r = 0;
out:
	free(id);
	free(kind);
	free(status);
	if (r < 0) {
		task_free(t);
		return fail(r);
	}
	*ret = t;
	return 0;
}

int task_add_step(task *t, int64_t at, const char *by, task_action action, const char *note) {
	if (!t)
		return -EINVAL;
	task_step *h = realloc(t->history, (t->n_history + 1) * sizeof(*h));
	if (!h)
		return -ENOMEM;
	t->history = h;
	task_step *s = &h[t->n_history];
	*s = (task_step) { .at = at, .action = action, .by = strdup(by ? by : ""), .note = note ? strdup(note) : NULL };
	if (!s->by || (note && !s->note)) {
		free(s->by);
		free(s->note);
		return -ENOMEM;
	}
	t->n_history++;
	return 0;
}

void task_free(task *t) {
	if (!t)
		return;
	free(t->assignee);
	free(t->customer);
	free(t->text);
	free(t->order);
	free(t->standing_order);
	for (size_t i = 0; i < t->n_history; i++) {
		free(t->history[i].by);
		free(t->history[i].note);
	}
	free(t->history);
	free(t);
}

json_t *task_event_due(const task *t) {
	if (!task_valid(t))
		return NULL;
	json_t *j = json_object();
	bool ok = j != NULL;
	jfield_set(j, "task", json_string(t->id), &ok);
	jfield_set(j, "assignee", json_string(t->assignee), &ok);
	jfield_set(j, "customer", json_string(t->customer), &ok);
	jfield_set(j, "due", json_integer(t->due), &ok);
	jfield_set(j, "kind", json_string(task_kind_name(t->kind)), &ok);
	jfield_set(j, "order", jfield_str_or_null(t->order), &ok);
	jfield_set(j, "standing_order", jfield_str_or_null(t->standing_order), &ok);
	return done(j, ok);
}

/* ---- interactions ---- */

static json_t *interaction_json(const interaction *i, bool view) {
	if (!i || !i->customer || !i->summary || !i->author || (unsigned) i->kind > INTERACTION_NOTE ||
	    i->seq > INT64_MAX)
		return NULL;
	json_t *j = json_object();
	bool ok = j != NULL;
	jfield_set(j, "customer", json_string(i->customer), &ok);
	jfield_set(j, "at", view ? instant_view(i->at) : json_integer(i->at), &ok);
	jfield_set(j, "seq", json_integer((json_int_t) i->seq), &ok);
	jfield_set(j, "kind", json_string(interaction_kind_name(i->kind)), &ok);
	jfield_set(j, "contact", jfield_str_or_null(i->contact), &ok);
	jfield_set(j, "summary", json_string(i->summary), &ok);
	jfield_set(j, "author", json_string(i->author), &ok);
	jfield_set(j, "message_id", jfield_str_or_null(i->message_id), &ok);
	return done(j, ok);
}

json_t *interaction_to_record(const interaction *i) {
	return interaction_json(i, false);
}

json_t *interaction_to_view(const interaction *i) {
	return interaction_json(i, true);
}

int interaction_from_record(json_t *j, interaction **ret) {
	if (!json_is_object(j) || !ret)
		return -EINVAL;
	interaction *i = calloc(1, sizeof(*i));
	if (!i)
		return -ENOMEM;
	char *kind = NULL;
	int64_t seq;
	int r;
	if ((r = jfield_str(j, "customer", false, &i->customer)) < 0 || (r = jfield_int(j, "at", &i->at)) < 0 ||
	    (r = jfield_int(j, "seq", &seq)) < 0 || (r = jfield_str(j, "kind", false, &kind)) < 0 ||
	    (r = jfield_str(j, "contact", true, &i->contact)) < 0 ||
	    (r = jfield_str(j, "summary", false, &i->summary)) < 0 ||
	    (r = jfield_str(j, "author", false, &i->author)) < 0 ||
	    (r = jfield_str(j, "message_id", true, &i->message_id)) < 0)
		goto out;
	r = seq < 0 || interaction_kind_parse(kind, &i->kind) < 0 ? -EINVAL : 0;
	i->seq = (uint64_t) seq;
out:
	free(kind);
	if (r < 0) {
		interaction_free(i);
		return fail(r);
	}
	*ret = i;
	return 0;
}

void interaction_free(interaction *i) {
	if (!i)
		return;
	free(i->customer);
	free(i->contact);
	free(i->summary);
	free(i->author);
	free(i->message_id);
	free(i);
}
