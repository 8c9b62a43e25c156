#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lib/api/peer.h"

static void add_group(peer *p, gid_t gid) {
	if (p->n_groups == PEER_MAX_GROUPS)
		return;
	struct group gr, *res = NULL;
	char buf[4096];
	if (getgrgid_r(gid, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return;
	for (size_t i = 0; i < p->n_groups; i++)
		if (!strcmp(p->groups[i], res->gr_name))
			return;
	char *name = strdup(res->gr_name);
	if (name)
		p->groups[p->n_groups++] = name;
}

void peer_resolve(peer *p, pid_t pid, uid_t uid, gid_t gid) {
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->uid = uid;
	p->gid = gid;
	struct passwd pw, *res = NULL;
	char buf[4096];
	add_group(p, gid);
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return;
	snprintf(p->user, sizeof(p->user), "%s", res->pw_name);
	gid_t groups[PEER_MAX_GROUPS];
	int n = PEER_MAX_GROUPS;
	if (getgrouplist(res->pw_name, res->pw_gid, groups, &n) < 0)
		n = PEER_MAX_GROUPS;
	for (int i = 0; i < n; i++)
		add_group(p, groups[i]);
}

void peer_clear(peer *p) {
	for (size_t i = 0; i < p->n_groups; i++)
		free(p->groups[i]);
	p->n_groups = 0;
}

static bool listed(char *const *users, size_t n, const char *user) {
	for (size_t i = 0; i < n; i++)
		if (!strcmp(users[i], user))
			return true;
	return false;
}

peer_role peer_role_of(const peer *p, const defs_config *c, uid_t self_uid) {
	peer_role r = { 0 };
	if (p->uid == 0 || p->uid == self_uid)
		r.flags |= PEER_ROLE_OPS;
	for (size_t i = 0; c->ops_group && i < p->n_groups; i++)
		if (!strcmp(p->groups[i], c->ops_group))
			r.flags |= PEER_ROLE_OPS;
	if (!p->user[0])
		return r;
	for (size_t i = 0; i < c->n_suppliers; i++)
		if (listed(c->suppliers[i].users, c->suppliers[i].n_users, p->user)) {
			r.flags |= PEER_ROLE_SUPPLIER;
			r.supplier = &c->suppliers[i];
			break;
		}
	if (listed(c->shop_users, c->n_shop_users, p->user))
		r.flags |= PEER_ROLE_SHOP;
	for (size_t i = 0; i < c->n_salespeople; i++)
		if (listed(c->salespeople[i].users, c->salespeople[i].n_users, p->user)) {
			r.flags |= PEER_ROLE_SALES;
			r.salesperson = &c->salespeople[i];
			break;
		}
	return r;
}
