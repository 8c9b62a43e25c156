/* standingctl upcoming --ics: the shipments as an RFC 5545 calendar. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lib/time/cal.h"
#include "config.h"
#include "lib/base/text.h"
#include "daemon/standingctl/ctl.h"

/* One RFC 5545 TEXT property, escaped and folded (text.h). */
static void ics_text(FILE *f, const char *name, const char *value) {
	char *line = text_ics_property(name, value);
	if (line)
		fputs(line, f);
	free(line);
}

/* 2027-02-01T04:00:00Z -> 20270201T040000Z */
static void ics_stamp(const char *iso, char *out, size_t size) {
	size_t n = 0;
	for (const char *p = iso; *p && n + 1 < size; p++)
		if (*p != '-' && *p != ':')
			out[n++] = *p;
	out[n] = 0;
}

void ctl_write_ics(FILE *f, json_t *items) {
	char stamp[32], now_iso[CAL_ISO_MAX];
	ics_stamp(cal_format_utc((int64_t) time(NULL), now_iso), stamp, sizeof(stamp));
	fputs("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//standingd//standingctl " STANDINGD_VERSION "//EN\r\n"
	      "CALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\n", f);
	size_t i;
	json_t *s;
	json_array_foreach(items, i, s) {
		char start[32], uid[256], lines[1024], summary[1200], where[1024], desc[1024];
		ics_stamp(ctl_js(s, "delivery_utc"), start, sizeof(start));
		/* stable: the order number once created, else the occurrence itself */
		if (*ctl_js(s, "order"))
			snprintf(uid, sizeof(uid), "%s@standingd", ctl_js(s, "order"));
		else
			snprintf(uid, sizeof(uid), "%s-%s@standingd", ctl_js(s, "standing_order"), start);
		ctl_lines_text(json_object_get(s, "lines"), lines, sizeof(lines));
		snprintf(summary, sizeof(summary), "Deliver to %s: %s", ctl_js(s, "customer_name"), lines);
		json_t *a = json_object_get(s, "ship_to");
		snprintf(where, sizeof(where), "%s, %s, %s %s, %s", ctl_js(a, "name"), ctl_js(a, "street"), ctl_js(a, "postcode"),
			 ctl_js(a, "city"), ctl_js(a, "country"));
		snprintf(desc, sizeof(desc), "Status: %s\nOrder: %s\nStanding order: %s\nDelivery: %s",
			 ctl_js(s, "status"), *ctl_js(s, "order") ? ctl_js(s, "order") : "(not yet created)",
			 ctl_js(s, "standing_order"), ctl_js(s, "delivery"));
		fputs("BEGIN:VEVENT\r\n", f);
		ics_text(f, "UID", uid);
		fprintf(f, "DTSTAMP:%s\r\nDTSTART:%s\r\nDURATION:PT1H\r\n", stamp, start);
		ics_text(f, "SUMMARY", summary);
		ics_text(f, "LOCATION", where);
		ics_text(f, "DESCRIPTION", desc);
		fprintf(f, "STATUS:%s\r\n", !strcmp(ctl_js(s, "status"), "projected") ? "TENTATIVE" : "CONFIRMED");
		fputs("END:VEVENT\r\n", f);
	}
	fputs("END:VCALENDAR\r\n", f);
}
