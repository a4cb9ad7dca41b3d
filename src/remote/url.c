/*
 * url: remote URLs taken apart the way git reads them, so that the
 * known_hosts lookup, the connection probe and the messages use the same
 * host and port that libgit2 will connect to.
 *
 *   ssh://[user@]host[:port]/path   (also git+ssh://, ssh+git://)
 *   [user@]host:path                scp-like; a ':' before any '/'
 *   https://host/path, git://host/path
 *   /a/path, ./rel, file:///a/path  local remotes: no network at all
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/util.h"
#include "remote_internal.h"

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* user@host:port or user@[v6]:port, from [s, e). */
static int parse_authority(const char *s, const char *e, struct remote_url *u, int allow_port,
			   char *why, size_t whylen)
{
	const char *at = NULL;
	for (const char *p = s; p < e; p++)
		if (*p == '@')
			at = p; /* the last '@': user names may not hold one, but be lenient */
	if (at) {
		if (at == s) {
			snprintf(why, whylen, "empty user name");
			return ERR_USAGE;
		}
		u->user = dup_n(s, (size_t)(at - s));
		s = at + 1;
	}
	const char *host_end;
	const char *port = NULL;
	if (s < e && *s == '[') {
		const char *close = memchr(s, ']', (size_t)(e - s));
		if (!close) {
			snprintf(why, whylen, "missing ']' after IPv6 address");
			return ERR_USAGE;
		}
		u->host = dup_n(s + 1, (size_t)(close - s - 1));
		host_end = close + 1;
		if (host_end < e && *host_end == ':')
			port = host_end + 1;
		else if (host_end != e) {
			snprintf(why, whylen, "unexpected text after ']'");
			return ERR_USAGE;
		}
	} else {
		const char *colon = allow_port ? memchr(s, ':', (size_t)(e - s)) : NULL;
		host_end = colon ? colon : e;
		u->host = dup_n(s, (size_t)(host_end - s));
		if (colon)
			port = colon + 1;
	}
	if (!u->host || !*u->host) {
		snprintf(why, whylen, "no host name");
		return ERR_USAGE;
	}
	if (port && port < e) {
		long v = 0;
		for (const char *p = port; p < e; p++) {
			if (!isdigit((unsigned char)*p) || v > 65535) {
				snprintf(why, whylen, "bad port '%.*s'", (int)(e - port), port);
				return ERR_USAGE;
			}
			v = v * 10 + (*p - '0');
		}
		if (v < 1 || v > 65535) {
			snprintf(why, whylen, "bad port '%.*s'", (int)(e - port), port);
			return ERR_USAGE;
		}
		u->port = (int)v;
		u->port_given = 1;
	}
	return 0;
}

int remote_url_parse(const char *url, struct remote_url *u, char *why, size_t whylen)
{
	memset(u, 0, sizeof(*u));
	if (!url || !*url) {
		snprintf(why, whylen, "empty url");
		return ERR_USAGE;
	}
	const char *sep = strstr(url, "://");
	int rc;
	if (sep && sep > url && (size_t)(sep - url) < sizeof(u->scheme)) {
		char scheme[sizeof(u->scheme)];
		size_t n = (size_t)(sep - url);
		for (size_t i = 0; i < n; i++)
			scheme[i] = (char)tolower((unsigned char)url[i]);
		scheme[n] = '\0';
		const char *rest = sep + 3;
		if (!strcmp(scheme, "file")) {
			snprintf(u->scheme, sizeof(u->scheme), "file");
			u->path = xstrdup(rest);
			if (!*rest || rest[0] != '/') {
				snprintf(why, whylen, "file:// URL needs an absolute path");
				goto fail;
			}
			return 0;
		}
		int defport;
		if (!strcmp(scheme, "ssh") || !strcmp(scheme, "git+ssh") || !strcmp(scheme, "ssh+git")) {
			snprintf(u->scheme, sizeof(u->scheme), "ssh");
			defport = 22;
		} else if (!strcmp(scheme, "https")) {
			snprintf(u->scheme, sizeof(u->scheme), "https");
			defport = 443;
		} else if (!strcmp(scheme, "http")) {
			snprintf(u->scheme, sizeof(u->scheme), "http");
			defport = 80;
		} else if (!strcmp(scheme, "git")) {
			snprintf(u->scheme, sizeof(u->scheme), "git");
			defport = 9418;
		} else {
			snprintf(why, whylen, "unsupported URL scheme '%s' (use ssh://, scp-like user@host:path, a path or file://)",
				 scheme);
			goto fail;
		}
		const char *slash = strchr(rest, '/');
		const char *auth_end = slash ? slash : rest + strlen(rest);
		if ((rc = parse_authority(rest, auth_end, u, 1, why, whylen)) < 0)
			goto fail;
		if (!slash || !slash[1]) {
			snprintf(why, whylen, "no repository path");
			goto fail;
		}
		u->path = xstrdup(slash);
		u->network = 1;
		if (!u->port)
			u->port = defport;
		return 0;
	}

	/* scp-like: a ':' that comes before any '/' (git's rule), host or
	 * [host] in front. A path such as "./a:b" or "/x:y" stays local. */
	const char *colon = NULL;
	if (url[0] == '[') {
		const char *close = strchr(url, ']');
		if (close && close[1] == ':')
			colon = close + 1;
	} else {
		for (const char *p = url; *p && *p != '/'; p++)
			if (*p == ':') {
				colon = p;
				break;
			}
	}
	if (colon) {
		snprintf(u->scheme, sizeof(u->scheme), "ssh");
		if ((rc = parse_authority(url, colon, u, 0, why, whylen)) < 0)
			goto fail;
		if (!colon[1]) {
			snprintf(why, whylen, "no repository path after ':'");
			goto fail;
		}
		u->path = xstrdup(colon + 1);
		u->port = 22;
		u->network = 1;
		return 0;
	}
	u->path = xstrdup(url);
	return 0;
fail:
	remote_url_free(u);
	return ERR_USAGE;
}

void remote_url_free(struct remote_url *u)
{
	free(u->user);
	free(u->host);
	free(u->path);
	memset(u, 0, sizeof(*u));
}
