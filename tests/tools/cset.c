/* cset: damages the compiled set a store keeps (doc/store.md, "compiled
 * definitions") for the integration tests, with raw LMDB (no store code):
 *   cset STATE flip NAME       one byte in the middle of the record cset/NAME flipped
 *   cset STATE section NAME POS  one byte flipped in the middle of standing order
 *                              POS's section of cset/NAME (pack version 3: after
 *                              its 8 bytes of hash), the rest as it was; a daemon
 *                              may run on STATE (LMDB's own locking)
 *   cset STATE version NAME    the record's version byte set to 255
 *   cset STATE version         the manifest's version byte set to 255
 *   cset STATE program TEXT    the manifest rewritten as compiled by TEXT (through
 *                              the store's own writer: a well-formed manifest)
 *   cset STATE bytes CONF      the last good set as a store before the compiled
 *                              records kept it (every orders file's bytes, read from
 *                              CONF), the compiled set removed
 * Exit 0, or 1 with a message (no such record). Run with no daemon on STATE. */
#include <errno.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/store/store.h"

static int fail(const char *what, int rc) {
	fprintf(stderr, "cset: %s: %s\n", what, rc ? mdb_strerror(rc) : "no such record");
	return 1;
}

/* The manifest as it is, but for the program that compiled it; the records kept. */
static int program(const char *state, const char *text) {
	store *s;
	store_txn *t;
	store_cset *m;
	int r = store_open(state, NULL, &s);
	if (r == 0 && (r = store_begin(s, true, &t)) == 0) {
		if ((r = store_cset_get(t, &m)) == 0) {
			store_cset_put_file *f = calloc(m->n_files + 1, sizeof(*f));
			for (size_t i = 0; i < m->n_files; i++)
				f[i] = (store_cset_put_file) { .name = m->files[i].name, .info = m->files[i].info };
			free(m->program);
			m->program = strdup(text);
			r = store_cset_put(t, m, f, m->n_files);
			free(f);
			store_cset_free(m);
		}
		r = r < 0 ? (store_abort(t), r) : store_commit(t);
	}
	store_close(s);
	if (r < 0)
		fprintf(stderr, "cset: program: %s\n", strerror(-r));
	return r < 0;
}

/* The orders files stored compiled stored as bytes again (read from conf), and no
 * compiled set: the layout of a store written before the compiled records. */
static int bytes(const char *state, const char *conf) {
	store *s;
	store_txn *t;
	defs_file *files = NULL;
	size_t n = 0;
	int r = store_open(state, NULL, &s);
	if (r == 0 && (r = store_begin(s, true, &t)) == 0) {
		r = store_defs_get(t, &files, &n);
		for (size_t i = 0; r == 0 && i < n; i++) {
			if (files[i].data)
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", conf, files[i].name);
			FILE *f = fopen(path, "rb");
			if (!f) {
				r = -errno;
				break;
			}
			files[i].data = malloc(files[i].len + 1);
			if (fread(files[i].data, 1, files[i].len, f) != files[i].len)
				r = -EIO;
			fclose(f);
		}
		if (r == 0 && (r = store_defs_put(t, files, n)) == 0)
			r = store_cset_clear(t);
		defs_files_free(files, n);
		r = r < 0 ? (store_abort(t), r) : store_commit(t);
	}
	store_close(s);
	if (r < 0)
		fprintf(stderr, "cset: bytes: %s\n", strerror(-r));
	return r < 0;
}

int main(int argc, char **argv) {
	if (argc == 4 && !strcmp(argv[2], "program"))
		return program(argv[1], argv[3]);
	if (argc == 4 && !strcmp(argv[2], "bytes"))
		return bytes(argv[1], argv[3]);
	bool section = argc == 5 && !strcmp(argv[2], "section");
	if (!section && (argc < 3 || (strcmp(argv[2], "flip") && strcmp(argv[2], "version")) ||
			 (!strcmp(argv[2], "flip") && argc != 4) || argc > 4)) {
		fprintf(stderr, "usage: cset STATE flip NAME | cset STATE section NAME POS | cset STATE version [NAME] | "
				"cset STATE program TEXT\n");
		return 2;
	}
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc = mdb_env_create(&env);
	if (!rc)
		rc = mdb_env_set_maxdbs(env, 64);
	if (!rc)
		rc = mdb_env_open(env, argv[1], 0, 0640);
	if (rc)
		return fail("open", rc);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) || (rc = mdb_dbi_open(txn, "meta", 0, &dbi)))
		return fail("meta", rc);
	char key[600];
	if (argc >= 4)
		snprintf(key, sizeof(key), "cset/%s", argv[3]);
	else
		snprintf(key, sizeof(key), "cset");
	MDB_val k = { .mv_size = strlen(key), .mv_data = key }, v;
	if ((rc = mdb_get(txn, dbi, &k, &v)))
		return fail(key, rc == MDB_NOTFOUND ? 0 : rc);
	unsigned char *copy = malloc(v.mv_size);
	memcpy(copy, v.mv_data, v.mv_size);
	if (section) {
		/* [9, 13) the head's length L, [13, 17) n_orders, [17, ...) the offsets
		 * from 13 + L (doc/store.md) */
		size_t pos = strtoul(argv[4], NULL, 10);
		uint32_t head = 0, n = 0;
		for (int i = 0; i < 4 && v.mv_size >= 17; i++) {
			head |= (uint32_t) copy[9 + i] << (8 * i);
			n |= (uint32_t) copy[13 + i] << (8 * i);
		}
		size_t bulk = 13 + (size_t) head;
		if (v.mv_size < 17 || pos >= n || 17 + 4 * (pos + 2) > bulk) {
			fprintf(stderr, "cset: %s has no section %zu\n", key, pos);
			return 1;
		}
		uint32_t o0 = 0, o1 = 0;
		for (int i = 0; i < 4; i++) {
			o0 |= (uint32_t) copy[17 + 4 * pos + i] << (8 * i);
			o1 |= (uint32_t) copy[17 + 4 * (pos + 1) + i] << (8 * i);
		}
		if (o1 < o0 + 9 || bulk + o1 > v.mv_size) {
			fprintf(stderr, "cset: %s: section %zu out of place\n", key, pos);
			return 1;
		}
		copy[bulk + o0 + 8 + (o1 - o0 - 8) / 2] ^= 0x10;
	} else if (!strcmp(argv[2], "flip")) {
		copy[v.mv_size / 2] ^= 0x10;
	} else {
		copy[0] = 255;
	}
	MDB_val nv = { .mv_size = v.mv_size, .mv_data = copy };
	if ((rc = mdb_put(txn, dbi, &k, &nv, 0)) || (rc = mdb_txn_commit(txn)))
		return fail("write", rc);
	free(copy);
	mdb_env_close(env);
	return 0;
}
