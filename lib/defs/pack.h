/* pack: one orders file's validated definitions (its defs_unit: customers and
 * standing orders as read, before linking) as compact bytes, for the compiled set
 * the store keeps (doc/store.md, "compiled definitions"), and a fast content hash.
 *
 * A packed unit (version 3, doc/store.md): a version byte (DEFS_PACK_VERSION), a
 * 64-bit hash (defs_hash64) of the head, the head's length and n_orders, an
 * offset table (n_orders + 1 offsets into the bulk area), then the head: a table
 * of the head's distinct strings, the customers and the standing orders' thin
 * fields, integers as LEB128 varints (signed ones zigzagged), strings as indexes
 * into the table (0: NULL), zones by name; then the bulk area: per standing order
 * one section (its own hash, then ship_to, lines, reminders, placed_by, line with
 * the strings inline), which defs_bulk_unpack reads alone. Unpacked, a unit lives
 * in one arena: the head's strings once each (a value repeated in the file is
 * shared), the arrays beside them; defs_unit_done frees it as a whole. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "lib/defs/defs.h"

#define DEFS_PACK_VERSION 3   /* 3: the offset table and the checked sections */

/* A 64-bit hash of p[0..len) (not cryptographic; several GB/s): the files'
 * content hashes and the packed records' checks. */
uint64_t defs_hash64(const void *p, size_t len, uint64_t seed);

/* u packed into a fresh buffer (free()). 0 and *ret, *ret_len; -ENOMEM, or
 * -EINVAL for a unit the format cannot hold (a count past 2^32). */
int defs_unit_pack(const defs_unit *u, uint8_t **ret, size_t *ret_len);
/* The unit packed in p[0..len), its zones looked up in base's tz_db (base must
 * outlive the unit, as with defs_unit_read). 0 and *ret (arena-backed); -EPROTO:
 * another version of the format; -EBADMSG: damaged (hash, truncation, a value out
 * of range, an unknown zone); -ENOMEM. *ret is untouched on failure. */
int defs_unit_unpack(const defs *base, const void *p, size_t len, defs_unit *ret);
/* Standing order pos's bulk from the unit packed in p[0..len), its section alone:
 * the offset table's pair checked (increasing, inside the value) and the section's
 * hash (seeded with pos), its strings copied into *arena (grown as needed; the
 * caller frees or resets it). ret->file NULL. 0; -EPROTO: another version;
 * -ERANGE: pos past the table; -EBADMSG: damaged; -ENOMEM. The head is not
 * checked (defs_unit_unpack does). */
int defs_bulk_unpack(const void *p, size_t len, size_t pos, struct defs_arena **arena, so_bulk *ret);
/* An unpacked unit's standing orders dropped (defs_unit.thin), the rest (its
 * customers, the strings the running standing orders point to) staying in the
 * arena: for a unit whose standing orders are kept elsewhere (the running set)
 * and, where the file's own word is needed again (a link, an id's position), read
 * again from the file. A unit not unpacked is left as it is. */
void defs_unit_thin(defs_unit *u);
/* Frees an unpacked unit's bulk arena (defs_unit.bulk): whatever pointed into it
 * (its standing orders' so_bulk when they have no reminders)
 * must be gone or thinned first. */
void defs_unit_bulk_free(defs_unit *u);
/* size bytes (8-aligned, uninitialised) in *arena, grown as needed; NULL on ENOMEM. */
void *defs_arena_alloc(struct defs_arena **arena, size_t size);
/* An arena emptied for reuse: its newest block kept, the others freed. NULL is fine. */
void defs_arena_reset(struct defs_arena **a);
/* Frees an unpacked unit's arena (defs_unit_done calls it). NULL is fine. */
void defs_arena_free(struct defs_arena *a);

/* The distinct zone names a set uses (the config's default, the customers', the
 * standing orders'), sorted: *ret (each and the array free()) and *ret_n. 0 or
 * -ENOMEM. */
int defs_zone_names(const defs *d, char ***ret, size_t *ret_n);
/* A fingerprint of the TZif files of these zones under tzdir (NULL: $TZDIR, else
 * /usr/share/zoneinfo, as tz_db_new): their names and bytes (a missing file
 * counts as such). The compiled set is reused only under the same fingerprint. */
uint64_t defs_tz_fingerprint(const char *tzdir, const char *const *zones, size_t n);
