/* catalog: the running set of definitions (the YAML files, the standing orders
 * placed through the API, and where they came from), owned by lib and used by the
 * daemon and by `standingctl diff` alike.
 *
 * A change is validated and applied incrementally: a file whose bytes did not
 * change (same name, length and content hash) is not read again; a changed, added or removed file (or one API
 * definition) is read on its own (defs_unit_read) and checked against indexes of
 * the ids of the running set (customers: an id -> owning file index; standing
 * orders: a search of the running set, sorted by id; suppliers from
 * standingd.yaml). Standing orders of other files that use a
 * customer of a changed file are linked again. The result is the set a full
 * validation (defs_load_with_api) gives, sorted the same way.
 *
 * All or nothing, with the same errors: when the incremental check finds anything
 * wrong, the whole candidate set is validated with defs_load_with_api and its
 * diags returned, so errors are exactly a full validation's (texts, positions, the
 * caps); except for a refused change of one orders file whose customers leave
 * the other files as they were, whose errors defs_unit_errors tells exactly from
 * the indexes. A change of
 * standingd.yaml's default zone or catch-up, a supplier removed that a
 * standing order names, or a salesperson removed that a customer or a reminder
 * names, reads every file again; its other keys reach no file.
 *
 * Two steps, so that the caller can apply the candidate (engine_apply) before it
 * becomes the running set: catalog_stage*() builds the candidate, then
 * catalog_commit() or catalog_abort(). At most one candidate at a time. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "lib/base/diag.h"
#include "lib/defs/defs.h"
#include "lib/sched/engine.h"

typedef struct catalog catalog;

/* tzdir NULL = the system's. 0 or -ENOMEM. */
int catalog_new(const char *tzdir, catalog **ret);
void catalog_free(catalog *c);

/* A candidate made of files (the YAML set, files[0] standingd.yaml; NULL: the
 * running YAML set) and api (the API's "api/ID.json" files; NULL: the running
 * ones). The arrays are only read (what is kept is copied). 0 with a candidate
 * (catalog_pending), -EINVAL with every error in diags, -EBUSY when a candidate
 * is already staged, or -ENOMEM. */
int catalog_stage(catalog *c, const defs_file *files, size_t n, const defs_file *api, size_t na,
		  diag_list *diags);
/* catalog_stage with what defs_read_dir_known says of each file (info parallel to
 * files; NULL: hashes computed here). A file not read (info[i].unread) is the
 * running set's file of that name when its len and hash match; else, when
 * info[i].packed is set, its unit is unpacked from those bytes (defs_unit_unpack:
 * the caller vouches that they were packed under this standingd.yaml); else it is
 * fetched through the source (catalog_set_source). An unpacked unit that fails
 * (damaged, another version) is read from its source too, and counted in the
 * stats. -ESTALE: a file not read is needed and there is no source, or the source
 * does not give the bytes of that hash (read the directory again, every file).
 * Otherwise as catalog_stage. */
int catalog_stage_known(catalog *c, const defs_file *files, const defs_file_info *info, size_t n,
			const defs_file *api, size_t na, diag_list *diags);

/* catalog_stage on the last good set the store keeps (store_defs_get): the
 * orders files stored compiled (no bytes: store_defs_put_compiled) are unpacked
 * from their records in the compiled set (store_cset_record), read in t, which
 * stays open meanwhile. -ENOENT: none stored; -EBADMSG: a compiled file whose
 * record is missing or does not unpack, when the source (catalog_set_source)
 * cannot give its bytes either; else as catalog_stage_known. */
int catalog_stage_stored(catalog *c, store_txn *t, const defs_file *api, size_t na, diag_list *diags);

/* defs_read_dir_known's question for a reload (ud: the catalog): whether name is
 * a YAML orders file of the running set with this identity (then its hash). */
bool catalog_known(void *ud, const char *name, const defs_file_id *id, uint64_t *ret_hash);

/* Where the bytes of a YAML orders file of the running set can be had again
 * (the daemon: the config directory): 0 and *ret (a defs_file to free with
 * defs_files_free(ret, 1)-style fields: name and data malloc'd) when the bytes
 * read hash to hash, -ESTALE when they do not, or another negative errno. With a
 * source set, the catalog keeps no orders file's bytes after a commit (only their
 * length and hash): a full validation and a damaged packed unit fetch them. */
typedef int (*catalog_source_fn)(void *ud, const char *name, uint64_t hash, defs_file *ret);
void catalog_set_source(catalog *c, catalog_source_fn fn, void *ud);
/* The thin running set (issue 12): once a commit has stored the units (not
 * catalog_commit_unstored), the standing orders of the YAML orders files that have
 * no reminders leave their bulk (ship_to, lines) to their file's compiled record
 * in the store (standing_order.stored; sales_so_full reads it) and the catalog
 * drops that bulk. Only for a caller that stores every unit it commits (the
 * daemon); off by default, so a catalog without a store keeps everything. A
 * thin standing order linked again (its customer changed in another file) has
 * its file read again through the source. */
void catalog_set_thin(catalog *c, bool on);
/* Where the running set's arrays that a commit replaces go (its standing orders,
 * customers and the customers' owners: 96 MB at 1,000,000, whose free() is a munmap of
 * ~8 ms): fn(ud, p) frees p, maybe on another thread (the daemon's loop hands it
 * to one); nothing of the catalog's refers to p any more. NULL: free() at once. */
typedef void catalog_free_fn(void *ud, void *p);
void catalog_set_free(catalog *c, catalog_free_fn *fn, void *ud);
/* The next stage reads every file again (catalog_known says none is known), as
 * after a failed commit: for a compiled record found damaged while running (the
 * apply that follows writes every record anew). */
void catalog_forget(catalog *c);

/* The candidate's YAML orders files for the compiled set the store keeps: name,
 * identity and hash; packed: the unit packed (defs_unit_pack) for the files this
 * stage read, or unpacked and linked otherwise than their record says (their
 * record is to be written), NULL for the others (kept from the running set, or
 * unpacked from the caller's bytes and linked as before).
 * 0 with *ret (free()) and *ret_n, -ENOENT when the YAML files did not change,
 * -ENOMEM. config_hash: defs_hash64 of the candidate's standingd.yaml. */
typedef struct catalog_compiled {
	const char *name;
	defs_file_info info;
	const uint8_t *packed;
	size_t packed_len;
} catalog_compiled;
int catalog_pending_compiled(const catalog *c, catalog_compiled **ret, size_t *ret_n, uint64_t *ret_config_hash);

/* A candidate with one API standing order replaced or added (json: its
 * definition file as text) or removed (json NULL). As catalog_stage. */
int catalog_stage_api_order(catalog *c, const char *id, const char *json, diag_list *diags);

/* The candidate's definitions (valid until commit/abort; after commit they are the
 * running set), NULL when none is staged. */
const defs *catalog_pending(const catalog *c);
/* The candidate's sources for engine_apply: files/api set only where they differ
 * from the running set's (NULL: leave as stored); now is left as it is. */
void catalog_pending_sources(const catalog *c, engine_sources *src);
/* The candidate becomes the running set; the previous running defs is freed. */
void catalog_commit(catalog *c);
void catalog_abort(catalog *c);
/* catalog_commit for a candidate whose compiled units were not stored with it (a
 * start on the store's last good set, installed without writing it back): they are
 * kept to be stored, so the next apply that stores the compiled set writes every
 * file's record, not only those of the files it changed. */
void catalog_commit_unstored(catalog *c);

/* DIR's files (defs_read_dir) made the running set of a new catalog, validated
 * as a start validates them (on the CPUs' threads; the errors exactly a full
 * validation's), nothing stored: `standingd --check` and standingctl's offline
 * commands. 0 and *ret (catalog_defs gives the set; catalog_free), -EINVAL with
 * every error in diags, -ENOMEM. tzdir as catalog_new. */
int catalog_load_dir(const char *dir, const char *tzdir, catalog **ret, diag_list *diags);

/* The running set, NULL before the first commit. The defs is the catalog's: never
 * defs_free() it; it stays valid until the next commit or catalog_free. */
const defs *catalog_defs(const catalog *c);
/* The running set's files (YAML, then API), owned by the catalog. */
void catalog_files(const catalog *c, const defs_file **ret_yaml, size_t *ret_ny, const defs_file **ret_api,
		   size_t *ret_na);

/* How the last stage went, for benchmarks and logs. */
typedef struct catalog_stats {
	size_t files_read;        /* files read again (changed, added) */
	size_t orders_linked;     /* standing orders linked again */
	bool full;                /* every file was read (first set, standingd.yaml changed) */
	bool config_kept;         /* standingd.yaml changed, but nothing the files take from it */
	bool full_validation;     /* an error: the whole set was validated for the diags */
	bool unit_errors;         /* the errors of one changed file, told without the whole set */
	size_t files_unpacked;    /* units unpacked from the caller's packed bytes */
	size_t files_kept;        /* YAML orders files of the running set kept as they were */
	size_t packed_failed;     /* packed units refused (then read from the source) */
	int packed_error;         /* the first refusal's: -EPROTO another version, -EBADMSG damaged */
	char packed_failed_name[256];   /* and its file */
} catalog_stats;
void catalog_last_stats(const catalog *c, catalog_stats *ret);
