/*
 * net: bounded time for network remotes.
 *
 * libgit2 1.5 offers no timeout for SSH (GIT_OPT_SET_SERVER_CONNECT_TIMEOUT
 * and _SERVER_TIMEOUT arrived in 1.7), connects in blocking mode and gives
 * no access to the libssh2 session or its socket. So dbgit bounds the two
 * ways a dead host can hang a push:
 *   - connecting: net_probe() opens (and closes) a TCP connection to the
 *     host itself, non-blocking with poll(), before libgit2 does;
 *   - silence later on: a watchdog thread, touched by every libgit2
 *     callback, shuts down this process's sockets to the host's addresses
 *     after `timeout` seconds without progress. The blocked read in libssh2
 *     then fails, and the push returns an error that is retried.
 * No signals, no alarm(): nothing else in the process is disturbed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remote_internal.h"

static int connect_one(const struct addrinfo *ai, int timeout_ms, int *err)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		do
			rc = poll(&p, 1, timeout_ms);
		while (rc < 0 && errno == EINTR);
		if (rc == 0) {
			*err = ETIMEDOUT;
			rc = -1;
		} else if (rc > 0) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
			*err = soerr;
			rc = soerr ? -1 : 0;
		} else {
			*err = errno;
		}
	} else if (rc < 0) {
		*err = errno;
	}
	close(fd);
	return rc;
}

int net_probe(const char *host, int port, int timeout, struct net_peers *peers, char *why,
	      size_t whylen)
{
	memset(peers, 0, sizeof(*peers));
	char service[16];
	snprintf(service, sizeof(service), "%d", port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int g = getaddrinfo(host, service, &hints, &res);
	if (g != 0) {
		snprintf(why, whylen, "cannot resolve host %s: %s", host, gai_strerror(g));
		return -1;
	}
	int ok = 0, err = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (peers->n < NET_MAX_PEERS) {
			memcpy(&peers->addr[peers->n], ai->ai_addr, ai->ai_addrlen);
			peers->len[peers->n] = ai->ai_addrlen;
			peers->n++;
		}
		if (!ok && connect_one(ai, timeout > 0 ? timeout * 1000 : -1, &err) == 0)
			ok = 1;
	}
	freeaddrinfo(res);
	if (!ok) {
		if (err == ETIMEDOUT)
			snprintf(why, whylen, "cannot connect to %s port %d: no answer within %d s", host, port,
				 timeout);
		else
			snprintf(why, whylen, "cannot connect to %s port %d: %s", host, port, strerror(err));
		return -1;
	}
	return 0;
}

static int same_peer(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
	return 0;
}

/* Shuts down every socket of this process connected to one of the peers.
 * Returns how many. */
static int cut_connections(const struct net_peers *peers)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	int dfd = dirfd(d), cut = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end || end == e->d_name || fd == dfd)
			continue;
		struct stat sb;
		if (fstat((int)fd, &sb) < 0 || !S_ISSOCK(sb.st_mode))
			continue;
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		if (getpeername((int)fd, (struct sockaddr *)&peer, &pl) < 0)
			continue;
		for (int i = 0; i < peers->n; i++)
			if (same_peer(&peer, &peers->addr[i])) {
				shutdown((int)fd, SHUT_RDWR);
				cut++;
				break;
			}
	}
	closedir(d);
	return cut;
}

static double elapsed(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += 200 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cv, &w->mu, &until);
		if (w->stop)
			break;
		if (elapsed(&w->last) >= w->timeout) {
			w->fired = 1;
			cut_connections(&w->peers);
			/* Cut again later if something still hangs. */
			clock_gettime(CLOCK_MONOTONIC, &w->last);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int watchdog_start(struct watchdog *w, int timeout, const struct net_peers *peers, int port)
{
	memset(w, 0, sizeof(*w));
	if (timeout <= 0 || !peers || peers->n == 0)
		return 0;
	w->timeout = timeout;
	w->peers = *peers;
	w->port = port;
	clock_gettime(CLOCK_MONOTONIC, &w->last);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&w->mu, NULL);
	if (pthread_create(&w->thread, NULL, watchdog_main, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		return -1;
	}
	w->running = 1;
	return 0;
}

void watchdog_touch(struct watchdog *w)
{
	if (!w || !w->running)
		return;
	pthread_mutex_lock(&w->mu);
	clock_gettime(CLOCK_MONOTONIC, &w->last);
	pthread_mutex_unlock(&w->mu);
}

int watchdog_stop(struct watchdog *w)
{
	if (!w->running)
		return 0;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	w->running = 0;
	return w->fired;
}
