/* peer: who is calling on the socket, from SO_PEERCRED (uid, gid) plus the
 * user's name and group memberships resolved once at connect time. The role
 * (ops, supplier X, shop, sales as salesperson X) is derived per request from the current definitions,
 * so a reload that changes suppliers' users takes effect at once. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "lib/defs/defs.h"

#define PEER_MAX_GROUPS 64

typedef struct peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char user[64];                 /* "" when the uid has no name */
	char *groups[PEER_MAX_GROUPS]; /* names of the user's groups (primary and supplementary) */
	size_t n_groups;
} peer;

typedef enum peer_role_flags {
	PEER_ROLE_OPS = 1 << 0,        /* root, the daemon's own user, or a member of ops_group */
	PEER_ROLE_SUPPLIER = 1 << 1,   /* listed under a supplier's users: */
	PEER_ROLE_SHOP = 1 << 2,       /* listed under shop_users: */
	PEER_ROLE_SALES = 1 << 3,      /* listed under a salesperson's users: (doc/crm.md) */
} peer_role_flags;

typedef struct peer_role {
	unsigned flags;
	const supplier *supplier; /* with PEER_ROLE_SUPPLIER */
	const salesperson *salesperson; /* with PEER_ROLE_SALES */
} peer_role;

/* Resolves the name and groups of uid/gid (getpwuid_r, getgrouplist). */
void peer_resolve(peer *p, pid_t pid, uid_t uid, gid_t gid);
void peer_clear(peer *p);
peer_role peer_role_of(const peer *p, const defs_config *c, uid_t self_uid);
