/* load: a load generator for standingd's Varlink socket. N clients (threads, one
 * persistent AF_UNIX connection each) call io.standingd.Supplier.ListUpcoming and
 * io.standingd.Ops.Status alternately (even clients start with the one, odd ones
 * with the other), one call in flight per client; no call starts after --duration,
 * calls in flight are waited for. Then it prints, per method, calls, throughput and p50/p99/max latency as
 * Markdown table rows ("| what | figure |") for bench/run.
 *
 * Bounded: the time (--duration), the calls per client (--max-calls), the reply
 * size (--max-reply) and the wait for one reply (SO_RCVTIMEO). Unix socket only.
 * Replies are checked with a tiny scan (the top-level "error" key), not parsed,
 * so the client costs little next to the daemon. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench/benchutil.h"

enum { M_UPCOMING, M_STATUS, N_METHODS };

static const char *const method_names[N_METHODS] = {
	"io.standingd.Supplier.ListUpcoming",
	"io.standingd.Ops.Status",
};

typedef struct options {
	const char *socket;
	int clients;
	double duration;           /* seconds */
	uint64_t max_calls;        /* per client */
	size_t max_reply;          /* bytes */
	const char *from, *to;
} options;

/* Per client: latencies (ns) per method, and what went wrong. */
typedef struct client {
	const options *opt;
	pthread_barrier_t *start;
	int64_t deadline;          /* set by main before the barrier releases */
	int64_t *lat[N_METHODS];
	size_t n[N_METHODS], cap[N_METHODS];
	uint64_t errors[N_METHODS];
	uint64_t reply_bytes[N_METHODS];
	char failure[160];         /* a fatal connection problem; empty when none */
	int fd;
	int first;                 /* method of the first call: clients alternate out of step */
} client;

static int connect_unix(const char *path, char *why, size_t why_size) {
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(why, why_size, "socket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, why_size, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
		snprintf(why, why_size, "connect %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	/* a daemon that stops answering ends the run instead of hanging it */
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int send_all(int fd, const char *buf, size_t len) {
	while (len > 0) {
		ssize_t k = send(fd, buf, len, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		buf += k;
		len -= (size_t) k;
	}
	return 0;
}

/* Whether the top-level object of a reply has an "error" key. Strings are skipped
 * with their escapes, so the same word inside data does not count. */
static bool reply_is_error(const char *s, size_t len) {
	int depth = 0;
	bool key_expected = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '"') {
			size_t start = i + 1;
			for (i = start; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			if (depth == 1 && key_expected) {
				if (i - start == 5 && memcmp(s + start, "error", 5) == 0)
					return true;
				key_expected = false;
			}
		} else if (c == '{' || c == '[') {
			depth++;
			key_expected = depth == 1;
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == ',' && depth == 1) {
			key_expected = true;
		}
	}
	return false;
}

static bool record(client *c, int m, int64_t ns) {
	if (c->n[m] == c->cap[m]) {
		size_t cap = c->cap[m] ? c->cap[m] * 2 : 1024;
		int64_t *v = realloc(c->lat[m], cap * sizeof(*v));
		if (!v)
			return false;
		c->lat[m] = v;
		c->cap[m] = cap;
	}
	c->lat[m][c->n[m]++] = ns;
	return true;
}

static void *client_run(void *arg) {
	client *c = arg;
	const options *o = c->opt;
	char req[N_METHODS][256];
	size_t req_len[N_METHODS];
	/* each message goes out with its terminating NUL */
	req_len[M_UPCOMING] = (size_t) snprintf(req[M_UPCOMING], sizeof(req[M_UPCOMING]),
		"{\"method\":\"%s\",\"parameters\":{\"from\":\"%s\",\"to\":\"%s\"}}",
		method_names[M_UPCOMING], o->from, o->to) + 1;
	req_len[M_STATUS] = (size_t) snprintf(req[M_STATUS], sizeof(req[M_STATUS]),
		"{\"method\":\"%s\",\"parameters\":{}}", method_names[M_STATUS]) + 1;

	size_t cap = 1 << 16, have = 0;
	char *buf = malloc(cap);
	if (!buf)
		snprintf(c->failure, sizeof(c->failure), "out of memory");
	pthread_barrier_wait(c->start);
	if (c->fd < 0 || !buf)
		goto out;

	for (uint64_t call = 0; call < o->max_calls && now_ns() < c->deadline; call++) {
		int m = (int) ((call + (uint64_t) c->first) % N_METHODS);
		int64_t t0 = now_ns();
		if (send_all(c->fd, req[m], req_len[m]) < 0) {
			snprintf(c->failure, sizeof(c->failure), "send: %s", strerror(errno));
			goto out;
		}
		/* read until the reply's NUL; a reply is never followed by another (no "more") */
		char *nul = NULL;
		size_t scanned = 0;
		have = 0;
		while (!nul) {
			if (have == cap) {
				if (cap >= o->max_reply) {
					snprintf(c->failure, sizeof(c->failure), "reply larger than %zu bytes", o->max_reply);
					goto out;
				}
				char *b = realloc(buf, cap * 2);
				if (!b) {
					snprintf(c->failure, sizeof(c->failure), "out of memory");
					goto out;
				}
				buf = b;
				cap *= 2;
			}
			ssize_t k = recv(c->fd, buf + have, cap - have, 0);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				snprintf(c->failure, sizeof(c->failure), "recv: %s",
					 k == 0 ? "connection closed by the daemon" : strerror(errno));
				goto out;
			}
			have += (size_t) k;
			nul = memchr(buf + scanned, '\0', have - scanned);
			scanned = have;
		}
		int64_t t1 = now_ns();
		size_t len = (size_t) (nul - buf);
		if (nul + 1 != buf + have) {
			snprintf(c->failure, sizeof(c->failure), "unexpected bytes after a reply");
			goto out;
		}
		if (reply_is_error(buf, len))
			c->errors[m]++;
		c->reply_bytes[m] += len + 1;
		if (!record(c, m, t1 - t0)) {
			snprintf(c->failure, sizeof(c->failure), "out of memory");
			goto out;
		}
	}
out:
	free(buf);
	return NULL;
}

static int cmp_i64(const void *a, const void *b) {
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[n], n >= 1. */
static double pct_ms(const int64_t *v, size_t n, double p) {
	size_t rank = (size_t) (p / 100.0 * (double) n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double) v[rank - 1] / 1e6;
}

static void usage(FILE *f) {
	fprintf(f,
		"usage: load --socket PATH [--clients N] [--duration SECONDS] [--max-calls N]\n"
		"            [--max-reply BYTES] [--from DATE] [--to DATE]\n"
		"Calls Supplier.ListUpcoming and Ops.Status alternately from N clients (default 64)\n"
		"for SECONDS (default 10); prints calls, calls/s and p50/p99/max latency per method\n"
		"as Markdown table rows. Defaults: --max-calls 1000000 (per client),\n"
		"--max-reply 67108864, --from 2027-01-01 --to 2027-02-01.\n");
}

int main(int argc, char **argv) {
	options o = { .clients = 64, .duration = 10, .max_calls = 1000000, .max_reply = 64u << 20,
		      .from = "2027-01-01", .to = "2027-02-01" };
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "clients", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "max-calls", required_argument, NULL, 'n' },
		{ "max-reply", required_argument, NULL, 'r' },
		{ "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int ch;
	char *end;
	while ((ch = getopt_long(argc, argv, "s:c:d:n:r:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': o.socket = optarg; break;
		case 'c':
			o.clients = (int) strtol(optarg, &end, 10);
			if (*end || o.clients < 1 || o.clients > 1024)
				goto bad;
			break;
		case 'd':
			o.duration = strtod(optarg, &end);
			if (*end || !(o.duration > 0 && o.duration <= 3600))
				goto bad;
			break;
		case 'n':
			o.max_calls = strtoull(optarg, &end, 10);
			if (*end || o.max_calls < 1 || o.max_calls > 100000000)
				goto bad;
			break;
		case 'r':
			o.max_reply = (size_t) strtoull(optarg, &end, 10);
			if (*end || o.max_reply < 4096)
				goto bad;
			break;
		case 'F': o.from = optarg; break;
		case 'T': o.to = optarg; break;
		case 'h': usage(stdout); return 0;
		default: goto bad;
		}
	}
	if (!o.socket || optind != argc || strlen(o.from) > 40 || strlen(o.to) > 40)
		goto bad;

	client *cl = calloc((size_t) o.clients, sizeof(*cl));
	pthread_t *th = calloc((size_t) o.clients, sizeof(*th));
	pthread_barrier_t start;
	if (!cl || !th || pthread_barrier_init(&start, NULL, (unsigned) o.clients + 1) != 0) {
		fprintf(stderr, "load: out of memory\n");
		return 1;
	}
	/* connect everyone first, so the timed part measures calls, not accepts */
	int connect_failures = 0;
	for (int i = 0; i < o.clients; i++) {
		cl[i].opt = &o;
		cl[i].start = &start;
		cl[i].first = i % N_METHODS;
		cl[i].fd = connect_unix(o.socket, cl[i].failure, sizeof(cl[i].failure));
		if (cl[i].fd < 0)
			connect_failures++;
	}
	int started = 0;
	for (; started < o.clients; started++)
		if (pthread_create(&th[started], NULL, client_run, &cl[started]) != 0)
			break;
	if (started < o.clients) {
		/* the barrier counts every client: without them all it would never open */
		fprintf(stderr, "load: cannot start thread %d of %d\n", started + 1, o.clients);
		_exit(1);
	}
	int64_t t0 = now_ns();
	int64_t deadline = t0 + (int64_t) (o.duration * 1e9);
	for (int i = 0; i < o.clients; i++)
		cl[i].deadline = deadline;
	pthread_barrier_wait(&start);
	for (int i = 0; i < o.clients; i++)
		pthread_join(th[i], NULL);
	int64_t elapsed = now_ns() - t0;
	pthread_barrier_destroy(&start);

	int failed = 0;
	for (int i = 0; i < o.clients; i++) {
		if (cl[i].failure[0]) {
			if (failed < 5)
				fprintf(stderr, "load: client %d: %s\n", i, cl[i].failure);
			failed++;
		}
		if (cl[i].fd >= 0)
			close(cl[i].fd);
	}
	if (failed)
		fprintf(stderr, "load: %d of %d clients failed (%d could not connect)\n", failed, o.clients,
			connect_failures);

	int rc = failed == o.clients ? 1 : 0;
	for (int m = 0; m < N_METHODS; m++) {
		size_t n = 0;
		uint64_t errors = 0, bytes = 0;
		for (int i = 0; i < o.clients; i++) {
			n += cl[i].n[m];
			errors += cl[i].errors[m];
			bytes += cl[i].reply_bytes[m];
		}
		int64_t *all = malloc((n ? n : 1) * sizeof(*all));
		if (!all) {
			fprintf(stderr, "load: out of memory\n");
			return 1;
		}
		size_t k = 0;
		for (int i = 0; i < o.clients; i++) {
			memcpy(all + k, cl[i].lat[m], cl[i].n[m] * sizeof(*all));
			k += cl[i].n[m];
		}
		qsort(all, n, sizeof(*all), cmp_i64);
		const char *short_name = strrchr(method_names[m], '.');
		short_name = short_name ? short_name + 1 : method_names[m];
		if (n == 0) {
			printf("| %s, %d clients, %.0f s | no calls completed |\n", method_names[m] + 13, o.clients,
			       (double) elapsed / 1e9);
			rc = 1;
		} else {
			char errs[48] = "";
			if (errors)
				snprintf(errs, sizeof(errs), "; %llu ERROR replies", (unsigned long long) errors);
			printf("| %s, %d clients, %.0f s | %zu calls, %.0f calls/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
			       "%.0f B per reply%s |\n",
			       method_names[m] + 13, o.clients, (double) elapsed / 1e9, n, (double) n / ((double) elapsed / 1e9),
			       pct_ms(all, n, 50), pct_ms(all, n, 99), (double) all[n - 1] / 1e6, (double) bytes / (double) n,
			       errs);
			if (errors) {
				fprintf(stderr, "load: %s: %llu error replies\n", short_name, (unsigned long long) errors);
				rc = 1;
			}
		}
		free(all);
		for (int i = 0; i < o.clients; i++)
			free(cl[i].lat[m]);
	}
	free(cl);
	free(th);
	return rc;

bad:
	usage(stderr);
	return 2;
}
