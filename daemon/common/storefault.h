/* storefault: what standingd and standingctl do when the store turns out to be
 * damaged while they run on it: one line on standard error and exit status 1,
 * never a signal or a core dump. The library only reports (store_options'
 * on_damage); this is the programs' policy. */
#pragma once

/* SIGBUS (a data file shorter than LMDB believes) and SIGSEGV (LMDB following a
 * damaged page) print a line naming the store and exit 1. Under AddressSanitizer
 * SIGSEGV is left to its report, which exits 1 too. Call once the state
 * directory is known; dir must stay valid. */
void storefault_install(const char *prog, const char *dir);
/* For store_options.on_damage: an LMDB assertion. Prints and exits 1. */
void storefault_lmdb(const char *dir, const char *what, void *ud);
