/* storefault: damaged store -> message and exit 1 (see storefault.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "daemon/common/storefault.h"

#if defined(__SANITIZE_ADDRESS__)
#define STOREFAULT_SEGV 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STOREFAULT_SEGV 0
#endif
#endif
#ifndef STOREFAULT_SEGV
#define STOREFAULT_SEGV 1
#endif

static const char *fault_prog = "standingd";
/* Built before any fault: a signal handler may only write(2) and _exit(2). */
static char fault_msg[2][1024];
static size_t fault_len[2];

static void on_fault(int sig) {
	int i = sig == SIGBUS ? 0 : 1;
	ssize_t w = write(STDERR_FILENO, fault_msg[i], fault_len[i]);
	(void) w;
	_exit(1);
}

void storefault_install(const char *prog, const char *dir) {
	static char altstack[64 * 1024];
	fault_prog = prog;
	for (int i = 0; i < 2; i++) {
		int n = snprintf(fault_msg[i], sizeof(fault_msg[i]),
				 "%s: fatal %s while working on the store in %s: its data file is damaged "
				 "(or this is a bug); check it with 'standingctl verify --state %s'\n",
				 prog, i ? "SIGSEGV" : "SIGBUS", dir, dir);
		fault_len[i] = n < 0 ? 0 : (size_t) n < sizeof(fault_msg[i]) ? (size_t) n : sizeof(fault_msg[i]) - 1;
	}
	/* An alternate stack, so that a fault from a blown stack is reported too. */
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	sigaltstack(&ss, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	if (STOREFAULT_SEGV)
		sigaction(SIGSEGV, &sa, NULL);
}

void storefault_lmdb(const char *dir, const char *what, void *ud) {
	(void) ud;
	fprintf(stderr, "%s: the store in %s is damaged: LMDB: %s\n", fault_prog, dir, what);
	fflush(stderr);
	_exit(1);
}
