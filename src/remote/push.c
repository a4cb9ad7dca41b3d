/*
 * push: job branches to the configured remotes.
 *
 * One push to one remote: connect (anonymous remote, nothing written to the
 * repository's config), read the remote's tips, decide per branch with the
 * lease (lease.c), upload what is allowed in one pack (libgit2 leaves out
 * every object the remote already has), and record the lease only for the
 * branches the remote accepted. A push larger than max_push_size goes in
 * steps, oldest commits first, the lease recorded at each (plan_step).
 * `dbgit check` uses the same connection and stops after listing the
 * remote's branches (remote_check).
 *
 * Failures come in two kinds. Those that need a person - an unknown,
 * changed or revoked host key, a refused key, a branch someone else moved,
 * a permission the server denies, a repository that is not there - are
 * ERR_REFUSED (exit 5) and are not retried. Everything else (network, a
 * remote that went away mid-push) is ERR_PUSH (exit 3) and is retried with
 * backoff; the snapshot is safe locally and the next run pushes it.
 *
 * Host key type: libgit2 1.5 asks the server for the key type of the first
 * entry it finds for the host in $HOME/.ssh/known_hosts, whatever file the
 * remote names; an RSA entry there makes it ask for SHA-1 "ssh-rsa", which
 * OpenSSH 8.8+ no longer offers. So during the connection HOME points at a
 * private directory whose .ssh/known_hosts dbgit wrote from the remote's
 * own known_hosts, with the best non-RSA type the host is known by (or
 * nothing: then libssh2's own order). The key itself is still checked
 * against the remote's file in on_certificate().
 *
 * Keys: a server that refuses the key and a passphrase that cannot decrypt
 * it look alike through libgit2 (both "try another credential"). When the
 * key is encrypted, the first credential offered is the public key alone
 * with a signer that only notes that the server asked for a signature - the
 * server's "this key would do" - and declines; the real key comes second.
 *
 * Secrets: the key passphrase is read from the environment once, at start
 * (remote_secrets_take(), which also removes the variable so that no hook
 * or dump tool inherits it), or from the file the config names (mode 0600,
 * ours), handed to libssh2, and wiped; it is never logged, never put on a
 * command line, never part of a message.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <git2.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbgit/remote.h"
#include "dbgit/store.h"
#include "dbgit/util.h"
#include "remote_internal.h"
#include "sendpack.h"

#define MSG_LEN 1536

struct branch_plan {
	const char *ref;
	git_oid local;
	int have_local;
	git_oid remote;
	int remote_has;
	git_oid lease;
	int lease_has;
	enum push_action action;
	int rejected;
	/* A push too big for one go (max_push_size): this attempt sends
	 * history only up to step, an older commit of the branch. */
	int partial;
	git_oid step;
	size_t step_commits, pending_commits;
	uint64_t step_estimate;
};

struct push_ctx {
	const struct remote_cfg *r;
	struct remote_url url;
	char *known_hosts;
	int key_calls;
	struct ssh_key_info key; /* what we know of r->ssh_key */
	int probing;       /* the public-key-only probe was offered */
	int pk_ok;         /* the server would accept the public key */
	int real_offered;  /* the key itself was offered */
	int fatal;         /* ERR_REFUSED or ERR_USAGE once the failure needs a person */
	char sideband[512];/* the server's last messages, for refusals */
	char msg[MSG_LEN]; /* our own diagnosis, preferred over libgit2's */
	struct watchdog wd;
	struct branch_plan *plan;
	size_t n;
	unsigned objects;
	size_t bytes;
	int check_only;    /* dbgit check: connect and list, push nothing */
	int partial;       /* this attempt pushed a step: more to send */
	int step_no;
	struct sendpack *sp; /* ssh: our own receive-pack exchange (sendpack.c) */
};

/* The server's text as a terminal may show it: control characters (C0,
 * DEL, C1) and bytes that are not UTF-8 become \xNN, so a server cannot
 * move the cursor, retitle the window or hide a line. Newlines too: the
 * caller splits lines first where it wants them. */
static void escape_text(char *out, size_t outlen, const char *in, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		const unsigned char *p = (const unsigned char *)in + i;
		size_t n = 1;
		unsigned cp = p[0];
		if (p[0] >= 0xc2 && p[0] <= 0xf4) {
			size_t need = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
			cp = p[0] & (0x3f >> (need - 1));
			size_t k = 1;
			while (k < need && i + k < len && (p[k] & 0xc0) == 0x80)
				cp = cp << 6 | (p[k++] & 0x3f);
			/* Whole, shortest form, no surrogate, at most U+10FFFF. */
			if (k == need && !(need == 3 && cp < 0x800) && !(need == 4 && (cp < 0x10000 || cp > 0x10ffff)) &&
			    !(cp >= 0xd800 && cp <= 0xdfff))
				n = need;
			else
				cp = 0x80; /* escaped below, one byte */
		} else if (p[0] >= 0x80) {
			cp = 0x80;
		}
		int bad = cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
		size_t room = bad ? 4 * n : n;
		if (o + room + 1 > outlen)
			break;
		if (bad)
			for (size_t k = 0; k < n; k++)
				o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", p[k]);
		else {
			memcpy(out + o, p, n);
			o += n;
		}
		i += n;
	}
	if (outlen)
		out[o] = '\0';
}

static int fail(struct push_ctx *c, int fatal, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct push_ctx *c, int fatal, const char *fmt, ...)
{
	if (!c->msg[0]) {
		char raw[MSG_LEN];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(raw, sizeof(raw), fmt, ap);
		va_end(ap);
		/* One line: server messages end in a newline (the retry
		 * warning quotes this text mid-sentence). */
		size_t n = strlen(raw);
		while (n > 0 && (raw[n - 1] == '\n' || raw[n - 1] == '\r' || raw[n - 1] == ' '))
			raw[--n] = '\0';
		for (char *p = raw; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		/* The server's words (libgit2 quotes its stderr, sendpack its
		 * report) are in it. */
		escape_text(c->msg, sizeof(c->msg), raw, n);
	}
	/* fatal: 0 retried, 1 the remote refused, 2 our own setup is wrong
	 * (known_hosts, passphrase source): neither is retried. */
	if (fatal)
		c->fatal = fatal == 2 ? ERR_USAGE : ERR_REFUSED;
	return -1;
}

static const char *git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}

static char *default_known_hosts(void)
{
	const char *home = getenv("HOME");
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : "/";
	}
	return xasprintf("%s/.ssh/known_hosts", home);
}

static char *expand_home(const char *path)
{
	if (path[0] == '~' && path[1] == '/') {
		const char *home = getenv("HOME");
		if (home && *home)
			return xasprintf("%s%s", home, path + 1);
	}
	return xstrdup(path);
}

static char *read_secret_file(const char *path, char *why, size_t whylen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(why, whylen, "cannot read passphrase_file %s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = calloc(1, 4096);
	size_t n = buf ? fread(buf, 1, 4095, f) : 0;
	fclose(f);
	if (!buf)
		return NULL;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return buf;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* Passphrases taken out of the environment at start, by variable name.
 * Process-wide like the parsed options: filled once, before any thread or
 * child exists. */
struct secret {
	char *name;
	char *value;
};
static struct secret *secrets;
static size_t n_secrets;

void remote_secrets_wipe(void)
{
	for (size_t i = 0; i < n_secrets; i++) {
		free(secrets[i].name);
		wipe_free(secrets[i].value);
	}
	free(secrets);
	secrets = NULL;
	n_secrets = 0;
}

int remote_secrets_take(const struct config *cfg)
{
	static int registered;
	for (size_t i = 0; i < cfg->n_remotes; i++) {
		const char *name = cfg->remotes[i].passphrase_env;
		if (!name)
			continue;
		char *v = getenv(name);
		if (!v)
			continue; /* already taken for another remote, or never set */
		struct secret *more = realloc(secrets, (n_secrets + 1) * sizeof(*secrets));
		if (!more)
			return err_set(ERR_GENERIC, "out of memory");
		secrets = more;
		secrets[n_secrets].name = xstrdup(name);
		secrets[n_secrets].value = xstrdup(v);
		if (!secrets[n_secrets].name || !secrets[n_secrets].value) {
			free(secrets[n_secrets].name);
			wipe_free(secrets[n_secrets].value);
			return err_set(ERR_GENERIC, "out of memory");
		}
		n_secrets++;
		/* Also out of /proc/<pid>/environ, which shows the block the
		 * process started with, not what unsetenv() leaves. */
		explicit_bzero(v, strlen(v));
		unsetenv(name);
	}
	if (!registered) {
		atexit(remote_secrets_wipe);
		registered = 1;
	}
	return 0;
}

static const char *secret_get(const char *name)
{
	for (size_t i = 0; i < n_secrets; i++)
		if (!strcmp(secrets[i].name, name))
			return secrets[i].value;
	/* A caller that did not take the secrets first (a unit test). */
	return getenv(name);
}

/* The signer of the probe: being asked to sign means the server accepted
 * the public key. Declining makes libssh2 report the attempt as failed and
 * libgit2 ask for the next credential. */
static int probe_sign(LIBSSH2_SESSION *session, unsigned char **sig, size_t *sig_len,
		      const unsigned char *data, size_t data_len, void **abstract)
{
	(void)session, (void)sig, (void)sig_len, (void)data, (void)data_len;
	struct push_ctx *c = *abstract;
	c->pk_ok = 1;
	return -1;
}

static int refused_key(struct push_ctx *c, const char *user)
{
	const struct remote_cfg *r = c->r;
	if (!strcmp(c->key.type, "ssh-rsa"))
		return fail(c, 1,
			    "remote %s: the server refused the key %s (user %s on %s): it is an RSA key, which libssh2 signs only with SHA-1 (ssh-rsa), refused by OpenSSH 8.8 and later; "
			    "use an ed25519 key (ssh-keygen -t ed25519 -f FILE) and authorize its .pub on the server",
			    r->name, r->ssh_key, user, c->url.host);
	return fail(c, 1, "remote %s: the server refused the key %s (user %s on %s)", r->name, r->ssh_key,
		    user, c->url.host);
}

/* libgit2 asks again after every refused credential. dbgit offers at most
 * the probe (an encrypted key's public half, see the top of this file) and
 * then the key itself, so a question after those means the server said no
 * - to the public key (refused) or to what the key signed (it could not be
 * decrypted). */
static int on_credentials(git_credential **out, const char *url, const char *user_from_url,
			  unsigned int allowed, void *payload)
{
	struct push_ctx *c = payload;
	const struct remote_cfg *r = c->r;
	(void)url;
	watchdog_touch(&c->wd);
	if (allowed & GIT_CREDENTIAL_USERNAME) {
		/* The URL names no user: like ssh, log in as the local one. */
		struct passwd *pw = getpwuid(getuid());
		return git_credential_username_new(out, pw ? pw->pw_name : "git");
	}
	const char *user = user_from_url ? user_from_url : "git";
	if (c->key_calls++ > 0 && !r->ssh_key)
		return fail(c, 1, "remote %s: the server refused every key ssh-agent offered (user %s on %s)",
			    r->name, user, c->url.host);
	if (r->ssh_key && c->real_offered) {
		if (c->pk_ok && c->key.encrypted && !r->passphrase_env && !r->passphrase_file)
			return fail(c, 2, "remote %s: the key %s is encrypted, and neither passphrase_env nor passphrase_file is set",
				    r->name, r->ssh_key);
		if (c->pk_ok && c->key.encrypted)
			return fail(c, 1, "remote %s: cannot decrypt the key %s (wrong passphrase?); the server accepts its public key",
				    r->name, r->ssh_key);
		if (c->pk_ok)
			return fail(c, 1, "remote %s: the server accepted the public key of %s (user %s on %s) but not its signature",
				    r->name, r->ssh_key, user, c->url.host);
		return refused_key(c, user);
	}
	if (r->ssh_key && c->probing && !c->pk_ok)
		return refused_key(c, user);
	if (!(allowed & GIT_CREDENTIAL_SSH_KEY))
		return fail(c, 1, "remote %s: %s does not accept public key authentication", r->name,
			    c->url.host);
	if (r->ssh_key && !c->probing && c->key.encrypted && c->key.pub) {
		c->probing = 1;
		return git_credential_ssh_custom_new(out, user, (const char *)c->key.pub, c->key.pub_len,
						     probe_sign, c);
	}
	if (!r->ssh_key) {
		if (!getenv("SSH_AUTH_SOCK"))
			return fail(c, 2, "remote %s: no ssh_key configured and no ssh-agent running (SSH_AUTH_SOCK is not set)",
				    r->name);
		return git_credential_ssh_key_from_agent(out, user);
	}
	char *pub = NULL;
	if (r->ssh_pubkey)
		pub = xstrdup(r->ssh_pubkey);
	else {
		pub = xasprintf("%s.pub", r->ssh_key);
		if (pub && !fs_exists(pub)) {
			free(pub);
			pub = NULL; /* libssh2 derives it from the private key */
		}
	}
	char *pass = NULL;
	char why[512] = "";
	if (r->passphrase_env) {
		const char *v = secret_get(r->passphrase_env);
		if (!v) {
			free(pub);
			return fail(c, 2, "remote %s: passphrase_env names %s, which is not set", r->name,
				    r->passphrase_env);
		}
		pass = xstrdup(v);
	} else if (r->passphrase_file) {
		pass = read_secret_file(r->passphrase_file, why, sizeof(why));
		if (!pass) {
			free(pub);
			return fail(c, 2, "remote %s: %s", r->name, why[0] ? why : "out of memory");
		}
	}
	int rc = git_credential_ssh_key_new(out, user, pub, r->ssh_key, pass);
	c->real_offered = 1;
	wipe_free(pass);
	free(pub);
	return rc;
}

static int on_certificate(git_cert *cert, int valid, const char *host, void *payload)
{
	struct push_ctx *c = payload;
	const struct remote_cfg *r = c->r;
	(void)valid; /* libgit2's own check reads ~/.ssh/known_hosts, not ours */
	watchdog_touch(&c->wd);
	if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
		return GIT_PASSTHROUGH; /* TLS: libgit2's verdict stands */
	const git_cert_hostkey *hk = (const git_cert_hostkey *)cert;
	if (!(hk->type & GIT_CERT_SSH_RAW))
		return fail(c, 1, "remote %s: libgit2 did not pass the host key of %s", r->name, host);
	int port = c->url.port;
	char fp[64], name[300], why[512] = "";
	remote_fingerprint(hk->hostkey, hk->hostkey_len, fp);
	remote_known_host_name(host, port, name, sizeof(name));
	const char *type = remote_hostkey_type_name(hk->raw_type);
	char keyscan[64] = "";
	if (port != 22)
		snprintf(keyscan, sizeof(keyscan), "-p %d ", port);

	switch (remote_hostkey_check(c->known_hosts, host, port, hk->raw_type, hk->hostkey,
				     hk->hostkey_len, why, sizeof(why))) {
	case HOSTKEY_MATCH:
		return 0;
	case HOSTKEY_REVOKED:
		log_error("remote %s: WARNING: THE HOST KEY OF %s IS REVOKED", r->name, name);
		return fail(c, 1,
			    "remote %s: REVOKED HOST KEY for %s: the server offers %s %s, which %s marks @revoked. "
			    "Not pushing, whatever host_key_policy says: the key was withdrawn, the server may be an impostor",
			    r->name, name, type, fp, c->known_hosts);
	case HOSTKEY_CHANGED:
		log_error("remote %s: WARNING: THE HOST KEY OF %s HAS CHANGED", r->name, name);
		return fail(c, 1,
			    "remote %s: HOST KEY CHANGED for %s: the server now offers %s %s, which differs from the key in %s. "
			    "Someone may be intercepting the connection (man-in-the-middle), or the host was reinstalled. "
			    "Not pushing. If the change is expected, remove the old key (ssh-keygen -R '%s' -f %s) and add the new one",
			    r->name, name, type, fp, c->known_hosts, name, c->known_hosts);
	case HOSTKEY_UNKNOWN: {
		unsigned known = remote_hostkey_types(c->known_hosts, host, port);
		unsigned weak = 1u << GIT_CERT_SSH_RAW_TYPE_RSA | 1u << GIT_CERT_SSH_RAW_TYPE_DSS;
		/* Why the server was not asked for the key the file has. */
		const char *rsa_only = known && !(known & ~weak)
					       ? " (the file knows the host only by an RSA key, which libssh2 1.10 can check only as SHA-1 ssh-rsa, "
						 "no longer offered by OpenSSH 8.8+)"
					       : "";
		if (r->host_key_policy && !strcmp(r->host_key_policy, "accept-new")) {
			/* A host already known by a key of another type is not
			 * "new": a second type is added by a person, not silently. */
			if (known & ~(1u << hk->raw_type))
				return fail(c, 1,
					    "remote %s: %s offers %s %s, but %s holds a key of another type for it%s; "
					    "not adding a second one automatically. Check the fingerprint, then add it with: "
					    "ssh-keyscan %s%s >> %s",
					    r->name, name, type, fp, c->known_hosts, rsa_only, keyscan, host,
					    c->known_hosts);
			if (remote_hostkey_add(c->known_hosts, host, port, hk->raw_type, hk->hostkey,
					       hk->hostkey_len, why, sizeof(why)) < 0)
				return fail(c, 2, "remote %s: %s", r->name, why);
			log_warn("remote %s: added the host key of %s (%s %s) to %s", r->name, name, type, fp,
				 c->known_hosts);
			return 0;
		}
		return fail(c, 1,
			    "remote %s: unknown host key for %s: %s %s is not in %s%s. Check the fingerprint, then add it with: "
			    "ssh-keyscan %s%s >> %s (or set host_key_policy = \"accept-new\")",
			    r->name, name, type, fp, c->known_hosts, rsa_only, keyscan, host, c->known_hosts);
	}
	case HOSTKEY_ERROR:
	default:
		return fail(c, 2, "remote %s: %s", r->name, why);
	}
}

/* The server's words for a refusal no retry fixes, in the text it sent
 * (stderr of git-receive-pack or the hosting service, or sideband). */
static const char *refusal_in(const char *text)
{
	static const char *const words[] = {
		"Permission denied", "permission denied", "Read-only file system", "Access denied",
		"access denied", "does not appear to be a git repository", "not a git repository",
		"Repository not found", "repository not found", "No such file or directory",
		"unrecognized command", "not allowed", "ERROR:", "dubious ownership",
	};
	for (size_t i = 0; text && i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(text, words[i]))
			return words[i];
	return NULL;
}

static const char *server_denied(struct push_ctx *c)
{
	const char *w = refusal_in(c->sideband);
	if (!w)
		return NULL;
	if (strstr(w, "ermission") || strstr(w, "Read-only") || strstr(w, "ccess denied") || !strcmp(w, "not allowed"))
		return "permission denied";
	return w;
}

static int on_update_reference(const char *refname, const char *status, void *payload)
{
	struct push_ctx *c = payload;
	watchdog_touch(&c->wd);
	if (!status)
		return 0;
	enum push_action action = PUSH_FAST_FORWARD;
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->plan[i].ref, refname)) {
			c->plan[i].rejected = 1;
			action = c->plan[i].action;
		}
	const char *b = strncmp(refname, "refs/heads/", 11) ? refname : refname + 11;
	int rewrite = action == PUSH_LEASED || action == PUSH_FORCED;
	const char *denied = server_denied(c);
	if (denied)
		/* A ref the server cannot lock because its files are not
		 * writable looks like a lost race ("failed to lock"); the
		 * server's own words say which. */
		fail(c, 1, "remote %s: the server cannot update branch %s: %s (%s); check the repository's permissions on the server",
		     c->r->name, b, denied, status);
	else if (rewrite && (strstr(status, "non-fast-forward") || strstr(status, "deny")))
		/* The server forbids rewriting the branch (a protected branch,
		 * receive.denyNonFastForwards); retrying will not help. */
		fail(c, 1, "remote %s: the server refuses to rewrite branch %s (%s); rotation rewrites history, so allow force-pushes to it on the remote",
		     c->r->name, b, status);
	else if (strstr(status, "fetch first") || strstr(status, "non-fast-forward") ||
		 strstr(status, "stale info") || strstr(status, "failed to lock") ||
		 strstr(status, "failed to update"))
		/* The update is conditional on the tip the remote showed us: a
		 * refusal means it moved in the meantime. */
		fail(c, 1, "remote %s: branch %s was moved by someone else while dbgit pushed (%s); not overwriting; use --force",
		     c->r->name, b, status);
	else
		fail(c, 0, "remote %s: the server rejected branch %s: %s", c->r->name, b, status);
	return 0;
}

static int on_push_progress(unsigned int current, unsigned int total, size_t bytes, void *payload)
{
	struct push_ctx *c = payload;
	(void)current;
	c->objects = total;
	c->bytes = bytes;
	watchdog_touch(&c->wd);
	return sig_pending() ? GIT_EUSER : 0; /* a stop signal ends the push */
}

static int on_pack_progress(int stage, uint32_t current, uint32_t total, void *payload)
{
	(void)stage, (void)current, (void)total;
	watchdog_touch(&((struct push_ctx *)payload)->wd);
	return sig_pending() ? GIT_EUSER : 0; /* a stop signal ends the push */
}

static void sideband_line(struct push_ctx *c, const char *str, int len);

static int on_sideband(const char *str, int len, void *payload)
{
	struct push_ctx *c = payload;
	watchdog_touch(&c->wd);
	/* Progress comes as "...\r...\r", hook output as lines: a line each. */
	for (int i = 0, start = 0; i <= len; i++)
		if (i == len || str[i] == '\n' || str[i] == '\r') {
			sideband_line(c, str + start, i - start);
			start = i + 1;
		}
	return 0;
}

static void sideband_line(struct push_ctx *c, const char *raw, int rawlen)
{
	char str[1024];
	escape_text(str, sizeof(str), raw, rawlen > 0 ? (size_t)rawlen : 0);
	int len = (int)strlen(str);
	if (len > 0) {
		log_debug("remote %s: remote: %s", c->r->name, str);
		/* Keep the tail: a refusal is the last thing the server says. */
		size_t have = strlen(c->sideband), room = sizeof(c->sideband) - 1;
		size_t n = (size_t)len < room ? (size_t)len : room;
		if (have + n + 1 > room) {
			size_t drop = have + n + 1 - room;
			drop = drop > have ? have : drop;
			memmove(c->sideband, c->sideband + drop, have - drop + 1);
			have -= drop;
		}
		if (have)
			c->sideband[have++] = ' ';
		memcpy(c->sideband + have, str + (size_t)len - n, n);
		c->sideband[have + n] = '\0';
	}
}

/* The smart transport over libgit2's ssh, wrapped so that the push can
 * send its own thin pack on the connection libgit2 opened (sendpack.h). */
static int on_transport(git_transport **out, git_remote *owner, void *payload)
{
	return sendpack_transport(out, owner, ((struct push_ctx *)payload)->sp);
}

static int on_sendpack_status(const char *ref, const char *msg, void *payload)
{
	return on_update_reference(ref, msg, payload);
}

static int on_sendpack_progress(void *payload)
{
	watchdog_touch(&((struct push_ctx *)payload)->wd);
	return sig_pending(); /* a stop signal ends the push */
}

static void short_id(const git_oid *id, char out[8])
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), id);
	memcpy(out, hex, 7);
	out[7] = '\0';
}

static const char *branch_short(const char *ref)
{
	return strncmp(ref, "refs/heads/", 11) ? ref : ref + 11;
}

/* Reads local tips and leases; a branch without a local tip is skipped. */
static int plan_local(git_repository *repo, struct push_ctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct branch_plan *p = &c->plan[i];
		p->have_local = git_reference_name_to_id(&p->local, repo, p->ref) == 0;
		char lease[512];
		if (remote_lease_ref(c->r->name, p->ref, lease, sizeof(lease)) < 0)
			return fail(c, 2, "remote %s: branch name %s too long", c->r->name, p->ref);
		p->lease_has = git_reference_name_to_id(&p->lease, repo, lease) == 0;
	}
	git_error_clear();
	return 0;
}

static int record_lease(git_repository *repo, struct push_ctx *c, struct branch_plan *p)
{
	char lease[512];
	remote_lease_ref(c->r->name, p->ref, lease, sizeof(lease));
	git_reference *ref = NULL;
	char log[256];
	snprintf(log, sizeof(log), "dbgit push %s", c->r->name);
	/* After a step the remote holds the step's commit, not the tip. */
	if (git_reference_create(&ref, repo, lease, p->partial ? &p->step : &p->local, 1, log) < 0) {
		/* The remote has it; only our memory of it failed. Next run
		 * sees the remote at our tip and records it then. */
		log_warn("remote %s: pushed %s but cannot record it in %s: %s", c->r->name, p->ref, lease,
			 git_msg());
		return -1;
	}
	git_reference_free(ref);
	/* What the next step (or attempt) compares against. */
	git_oid_cpy(&p->lease, p->partial ? &p->step : &p->local);
	p->lease_has = 1;
	return 0;
}

/* What one commit adds to a push, from above: the blobs of its tree that
 * differ from its first parent's (every blob for a root commit) at their
 * raw size, plus room for trees, pack headers and the commit. A pack
 * stores them compressed, often as deltas, so the real pack is smaller;
 * sizes come from object headers, nothing is read whole. */
static int commit_cost(git_repository *repo, git_odb *odb, const git_oid *id, uint64_t *out)
{
	git_commit *c = NULL, *parent = NULL;
	git_tree *t = NULL, *pt = NULL;
	git_diff *d = NULL;
	int rc = -1;
	*out = 1024;
	if (git_commit_lookup(&c, repo, id) < 0 || git_commit_tree(&t, c) < 0)
		goto out;
	if (git_commit_parentcount(c) > 0 &&
	    (git_commit_parent(&parent, c, 0) < 0 || git_commit_tree(&pt, parent) < 0))
		goto out;
	git_diff_options o;
	git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
	if (git_diff_tree_to_tree(&d, repo, pt, t, &o) < 0)
		goto out;
	for (size_t i = 0, n = git_diff_num_deltas(d); i < n; i++) {
		const git_diff_delta *dd = git_diff_get_delta(d, i);
		size_t size;
		git_object_t type;
		if (dd->status != GIT_DELTA_ADDED && dd->status != GIT_DELTA_MODIFIED &&
		    dd->status != GIT_DELTA_TYPECHANGE)
			continue;
		if (git_odb_read_header(&size, &type, odb, &dd->new_file.id) < 0)
			goto out;
		*out += (uint64_t)size + 128;
	}
	rc = 0;
out:
	git_diff_free(d);
	git_tree_free(pt);
	git_tree_free(t);
	git_commit_free(parent);
	git_commit_free(c);
	return rc;
}

/* A branch whose new history is larger than max_push_size goes out in
 * steps: the oldest commits the remote lacks, as many as fit, pushed as
 * the branch (a fast-forward each time, the lease recorded at each step),
 * until the tip goes. One commit is the smallest step; a single snapshot
 * larger than the limit goes alone, with a warning. Only new branches and
 * fast-forwards are split: a rewritten branch replaces the remote's in one
 * push, under its lease. Sets p->partial when this attempt sends a step. */
static int plan_step(git_repository *repo, struct push_ctx *c, struct branch_plan *p,
		     const git_remote_head **heads, size_t nheads)
{
	p->partial = 0;
	p->step_commits = p->pending_commits = 0;
	p->step_estimate = 0;
	if (!c->r->max_push_size || (p->action != PUSH_CREATE && p->action != PUSH_FAST_FORWARD))
		return 0;
	git_revwalk *w = NULL;
	git_odb *odb = NULL;
	int rc = -1;
	if (git_repository_odb(&odb, repo) < 0 || git_revwalk_new(&w, repo) < 0)
		goto out;
	git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
	git_revwalk_simplify_first_parent(w);
	if (git_revwalk_push(w, &p->local) < 0)
		goto out;
	/* What the remote has (and this repository knows) is not sent. */
	for (size_t h = 0; h < nheads; h++)
		if (git_odb_exists(odb, &heads[h]->oid) && git_revwalk_hide(w, &heads[h]->oid) < 0)
			goto out;
	git_oid id;
	uint64_t total = 0;
	int r;
	while ((r = git_revwalk_next(&id, w)) == 0) {
		p->pending_commits++;
		if (p->partial)
			continue;
		uint64_t cost;
		if (commit_cost(repo, odb, &id, &cost) < 0)
			goto out;
		if (p->step_commits > 0 && total + cost > c->r->max_push_size) {
			p->partial = 1;
			continue;
		}
		total += cost;
		git_oid_cpy(&p->step, &id);
		p->step_commits++;
		watchdog_touch(&c->wd);
	}
	if (r != GIT_ITEROVER)
		goto out;
	p->step_estimate = total;
	if (total > c->r->max_push_size)
		log_warn("remote %s: one snapshot of %s adds up to %llu KiB, more than max_push_size (%zu KiB); "
			 "sending it alone (packed it is smaller, but the server may refuse it)",
			 c->r->name, branch_short(p->ref), (unsigned long long)(total >> 10), c->r->max_push_size >> 10);
	rc = 0;
out:
	if (rc < 0)
		fail(c, 0, "remote %s: cannot plan the push of %s: %s", c->r->name, branch_short(p->ref), git_msg());
	git_revwalk_free(w);
	git_odb_free(odb);
	return rc;
}

static void step_ref(const struct push_ctx *c, const struct branch_plan *p, char *out, size_t len)
{
	snprintf(out, len, "refs/dbgit/push-step/%s/%s", c->r->name, branch_short(p->ref));
}

/* The bytes of the packs in a local remote: libgit2's local transport
 * reports no byte count of its own, so a push measures what it added. */
static uint64_t local_pack_bytes(const char *path)
{
	uint64_t sum = 0;
	char *dirs[2] = {xasprintf("%s/objects/pack", path), xasprintf("%s/.git/objects/pack", path)};
	for (int i = 0; i < 2; i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			size_t l = strlen(e->d_name);
			struct stat sb;
			if (l < 5 || strcmp(e->d_name + l - 5, ".pack") || fstatat(dirfd(d), e->d_name, &sb, 0) < 0)
				continue;
			sum += (uint64_t)sb.st_size;
		}
		if (d)
			closedir(d);
		free(dirs[i]);
	}
	return sum;
}

/* HOME for libgit2's own known_hosts lookup (see the top of this file). */
struct home_swap {
	char dir[512];
	char *old;
	int had_old, active;
};

static int home_swap_begin(struct push_ctx *c, struct home_swap *h, char *why, size_t whylen)
{
	memset(h, 0, sizeof(*h));
	const char *tmp = getenv("TMPDIR");
	snprintf(h->dir, sizeof(h->dir), "%s/dbgit-ssh-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(h->dir)) {
		snprintf(why, whylen, "cannot create a directory in %s: %s", tmp && *tmp ? tmp : "/tmp",
			 strerror(errno));
		h->dir[0] = '\0';
		return -1;
	}
	char ssh[600], kh[700];
	snprintf(ssh, sizeof(ssh), "%s/.ssh", h->dir);
	snprintf(kh, sizeof(kh), "%s/known_hosts", ssh);
	if (mkdir(ssh, 0700) < 0) {
		snprintf(why, whylen, "cannot create %.300s: %s", ssh, strerror(errno));
		return -1;
	}
	if (remote_hostkey_prefer_file(c->known_hosts, c->url.host, c->url.port, kh, why, whylen) < 0)
		return -2; /* the user's known_hosts: a person must fix it */
	const char *old = getenv("HOME");
	h->had_old = old != NULL;
	h->old = old ? xstrdup(old) : NULL;
	if (setenv("HOME", h->dir, 1) < 0) {
		snprintf(why, whylen, "cannot set HOME: %s", strerror(errno));
		return -1;
	}
	h->active = 1;
	return 0;
}

static void home_swap_end(struct home_swap *h)
{
	if (h->active) {
		if (h->had_old && h->old)
			setenv("HOME", h->old, 1);
		else
			unsetenv("HOME");
	}
	if (h->dir[0])
		fs_rmtree(h->dir);
	free(h->old);
	memset(h, 0, sizeof(*h));
}

/* Over ssh: the commands, dbgit's thin pack and the server's report on
 * the connection libgit2 opened; failures worded as for
 * git_remote_upload below. */
static int send_thin(git_repository *repo, struct push_ctx *c, const struct sendpack_cmd *cmds, size_t n,
		     const git_remote_head **heads, size_t nheads)
{
	const struct remote_cfg *r = c->r;
	/* What the remote has: the pushed branches' tips first (a rewritten
	 * root is compared with the first, see thin.c), then every tip. */
	git_oid *have = calloc(n + nheads + 1, sizeof(*have));
	size_t nh = 0;
	if (!have)
		return fail(c, 0, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (!git_oid_is_zero(&cmds[i].old))
			git_oid_cpy(&have[nh++], &cmds[i].old);
	for (size_t h = 0; h < nheads; h++)
		git_oid_cpy(&have[nh++], &heads[h]->oid);
	struct sendpack_cb cb = {on_sendpack_status, on_sideband, on_sendpack_progress, c, r->timeout};
	struct sendpack_result res;
	int prev = err_code();
	char *prev_msg = prev ? xstrdup(err_last()) : NULL;
	err_clear();
	int rc = sendpack_push(c->sp, repo, cmds, n, have, nh, &cb, &res);
	free(have);
	if (rc < 0) {
		const char *denied = server_denied(c);
		if (denied)
			fail(c, 1, "remote %s: the server refused the push: %s (%s)", r->name, denied, c->sideband);
		else if (err_code() == ERR_REFUSED)
			fail(c, 1, "remote %s: %s", r->name, err_last());
		else if (rc == SENDPACK_UNPACK_FAILED)
			/* The pack arrived; the server could not keep it. Sending
			 * it again cannot help. */
			fail(c, 1, "remote %s: the server could not store the objects sent (%s); check the repository's permissions and free space on the server",
			     r->name, err_last());
		fail(c, 0, "remote %s: push failed: %s", r->name, err_last());
		rc = -1;
	} else {
		c->objects = (unsigned)res.objects;
		c->bytes = (size_t)res.bytes;
		log_debug("remote %s: %zu objects, %zu of them deltas against what the remote has", r->name,
			  res.objects, res.deltas);
	}
	err_clear();
	if (prev)
		err_reset(prev, "%s", prev_msg);
	free(prev_msg);
	return rc;
}

static int push_attempt(git_repository *repo, struct push_ctx *c, int force)
{
	const struct remote_cfg *r = c->r;
	git_remote *remote = NULL;
	git_strarray specs = {NULL, 0};
	struct sendpack_cmd *cmds = NULL;
	size_t ncmds = 0;
	int rc = -1, refused = 0;
	char why[512];
	struct home_swap home;
	memset(&home, 0, sizeof(home));

	c->key_calls = 0;
	c->probing = c->pk_ok = c->real_offered = 0;
	c->sideband[0] = '\0';
	c->msg[0] = '\0';
	c->fatal = 0;
	c->objects = 0;
	c->bytes = 0;
	c->partial = 0;
	uint64_t packs_before = 0;
	for (size_t i = 0; i < c->n; i++) {
		c->plan[i].remote_has = 0;
		c->plan[i].rejected = 0;
		c->plan[i].partial = 0;
		c->plan[i].action = PUSH_UP_TO_DATE;
	}

	if (!c->url.network && !fs_is_dir(c->url.path))
		/* A path that is not there: libgit2 would only say "unsupported
		 * URL protocol". A person must create it (or mount its disk). */
		return fail(c, 1, "remote %s: no git repository at %s (create it with: git init --bare %s)",
			    r->name, c->url.path, c->url.path);
	if (c->url.network) {
		struct net_peers peers;
		if (net_probe(c->url.host, c->url.port, r->timeout, &peers, why, sizeof(why)) < 0)
			return fail(c, 0, "remote %s: %s", r->name, why);
		if (watchdog_start(&c->wd, r->timeout, &peers, c->url.port) < 0)
			log_warn("remote %s: no watchdog thread; a stalled server may hang this push", r->name);
		int hs = !strcmp(c->url.scheme, "ssh") ? home_swap_begin(c, &home, why, sizeof(why)) : 0;
		if (hs < 0) {
			fail(c, hs == -2 ? 2 : 0, "remote %s: %s", r->name, why);
			goto out;
		}
	}

	git_remote_callbacks cb;
	git_remote_init_callbacks(&cb, GIT_REMOTE_CALLBACKS_VERSION);
	cb.credentials = on_credentials;
	cb.certificate_check = on_certificate;
	cb.push_update_reference = on_update_reference;
	cb.push_transfer_progress = on_push_progress;
	cb.pack_progress = on_pack_progress;
	cb.sideband_progress = on_sideband;
	cb.payload = c;
	if (c->url.network && !strcmp(c->url.scheme, "ssh")) {
		/* libgit2 1.5 packs every changed chunk whole; over ssh the
		 * pack is ours, thin (sendpack.c, thin.c). A local remote
		 * keeps git_remote_upload: nothing travels there. */
		if (sendpack_new(&c->sp) < 0) {
			fail(c, 0, "remote %s: %s", r->name, err_last());
			err_clear();
			goto out;
		}
		cb.transport = on_transport;
	}

	if (git_remote_create_anonymous(&remote, repo, r->url) < 0) {
		fail(c, 2, "remote %s: bad url %s: %s", r->name, r->url, git_msg());
		goto out;
	}
	if (git_remote_connect(remote, GIT_DIRECTION_PUSH, &cb, NULL, NULL) < 0) {
		if (c->pk_ok && c->key.encrypted && !c->msg[0])
			/* Without a .pub file libssh2 reads the public key out of
			 * the private one, which fails before the server is asked. */
			fail(c, 1, "remote %s: cannot decrypt the key %s (wrong passphrase?); the server accepts its public key",
			     r->name, r->ssh_key);
		if (c->key_calls > 0 && !c->msg[0] && git_error_last() &&
		    git_error_last()->klass == GIT_ERROR_SSH &&
		    (strstr(git_msg(), "authenticate") || strstr(git_msg(), "public key")))
			fail(c, 1, "remote %s: cannot log in with the key %s: %s (wrong passphrase or unusable key?)",
			     r->name, r->ssh_key ? r->ssh_key : "from ssh-agent", git_msg());
		const char *w = git_error_last() && git_error_last()->klass == GIT_ERROR_SSH ? refusal_in(git_msg()) : NULL;
		if (w && (strstr(w, "ermission") || strstr(w, "ccess denied") || !strcmp(w, "not allowed")))
			fail(c, 1, "remote %s: the server denies access to %s: %s", r->name, c->url.path, git_msg());
		else if (w)
			fail(c, 1, "remote %s: no usable repository %s on %s: %s", r->name, c->url.path,
			     c->url.host, git_msg());
		fail(c, 0, "remote %s: cannot connect: %s", r->name, git_msg());
		goto out;
	}
	const git_remote_head **heads = NULL;
	size_t nheads = 0;
	if (git_remote_ls(&heads, &nheads, remote) < 0) {
		fail(c, 0, "remote %s: cannot list its branches: %s", r->name, git_msg());
		goto out;
	}
	if (c->check_only) {
		/* Reached, logged in, the repository answered: what check asks. */
		rc = c->msg[0] ? -1 : 0;
		goto out;
	}

	specs.strings = calloc(c->n ? c->n : 1, sizeof(char *));
	cmds = calloc(c->n ? c->n : 1, sizeof(*cmds));
	if (!specs.strings || !cmds) {
		fail(c, 0, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c->n; i++) {
		struct branch_plan *p = &c->plan[i];
		if (!p->have_local)
			continue;
		for (size_t h = 0; h < nheads; h++)
			if (!strcmp(heads[h]->name, p->ref)) {
				p->remote_has = 1;
				git_oid_cpy(&p->remote, &heads[h]->oid);
			}
		struct lease_facts f = {.remote_has = p->remote_has, .lease_has = p->lease_has, .force = force};
		if (p->remote_has) {
			f.same = git_oid_equal(&p->local, &p->remote);
			f.lease_matches = p->lease_has && git_oid_equal(&p->lease, &p->remote);
			/* Without the remote's commit here it is no ancestor of ours:
			 * someone else made it. */
			f.descends = !f.same && git_graph_descendant_of(repo, &p->local, &p->remote) == 1;
			git_error_clear();
		}
		p->action = remote_decide(&f);
		if (p->action == PUSH_REFUSE) {
			char theirs[8], ours[8];
			short_id(&p->remote, theirs);
			if (p->lease_has) {
				short_id(&p->lease, ours);
				fail(c, 1, "remote %s: branch %s was moved by someone else (remote has %s, dbgit last pushed %s); not overwriting; use --force",
				     r->name, branch_short(p->ref), theirs, ours);
			} else {
				fail(c, 1, "remote %s: branch %s was moved by someone else (remote has %s, which dbgit never pushed); not overwriting; use --force",
				     r->name, branch_short(p->ref), theirs);
			}
			refused = 1;
			continue;
		}
		if (p->action == PUSH_UP_TO_DATE)
			continue;
		if (plan_step(repo, c, p, heads, nheads) < 0)
			goto out;
		int plus = p->action == PUSH_LEASED || p->action == PUSH_FORCED;
		/* The same update as a receive-pack command: conditional on
		 * the tip the remote showed us, whatever the action. */
		struct sendpack_cmd *cmd = &cmds[ncmds++];
		if (p->remote_has)
			git_oid_cpy(&cmd->old, &p->remote);
		git_oid_cpy(&cmd->new, p->partial ? &p->step : &p->local);
		cmd->ref = p->ref;
		if (p->partial) {
			/* libgit2 pushes refs, not commits: a private ref names the step. */
			char name[600];
			git_reference *sr = NULL;
			step_ref(c, p, name, sizeof(name));
			if (git_reference_create(&sr, repo, name, &p->step, 1, "dbgit push step") < 0) {
				fail(c, 0, "remote %s: cannot write %s: %s", r->name, name, git_msg());
				goto out;
			}
			git_reference_free(sr);
			specs.strings[specs.count++] = xasprintf("%s:%s", name, p->ref);
			c->partial = 1;
			continue;
		}
		specs.strings[specs.count++] = xasprintf("%s%s:%s", plus ? "+" : "", p->ref, p->ref);
	}

	if (!c->url.network)
		packs_before = local_pack_bytes(c->url.path);
	if (specs.count > 0 && c->sp) {
		if (send_thin(repo, c, cmds, ncmds, heads, nheads) < 0)
			goto out;
	} else if (specs.count > 0) {
		git_push_options po;
		git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
		po.callbacks = cb;
		if (git_remote_upload(remote, &specs, &po) < 0) {
			const char *denied = server_denied(c);
			if (denied)
				fail(c, 1, "remote %s: the server refused the push: %s (%s)", r->name, denied, c->sideband);
			else if (strstr(git_msg(), "unpacking the sent packfile failed on the remote"))
				/* The pack arrived; the server could not keep it
				 * (git reports only that: "unable to create temporary
				 * object directory" is not passed on). Sending it
				 * again cannot help. */
				fail(c, 1, "remote %s: the server could not store the objects sent (%s); check the repository's permissions and free space on the server",
				     r->name, git_msg());
			fail(c, 0, "remote %s: push failed: %s", r->name, git_msg());
			goto out;
		}
	}
	/* The remote holds the local tip of every branch it did not reject:
	 * remember that as the lease. */
	for (size_t i = 0; i < c->n; i++) {
		struct branch_plan *p = &c->plan[i];
		if (!p->have_local || p->action == PUSH_REFUSE || p->rejected)
			continue;
		if (p->partial) {
			char from[8] = "(new)", to[8];
			if (p->remote_has)
				short_id(&p->remote, from);
			short_id(&p->step, to);
			log_info("remote %s: %s %s..%s (step %d: %zu of %zu snapshots, at most %llu KiB; max_push_size %zu KiB)",
				 r->name, branch_short(p->ref), from, to, c->step_no + 1, p->step_commits,
				 p->pending_commits, (unsigned long long)(p->step_estimate >> 10),
				 r->max_push_size >> 10);
			record_lease(repo, c, p);
			continue;
		}
		if (p->action != PUSH_UP_TO_DATE) {
			char from[8] = "(new)", to[8];
			if (p->remote_has)
				short_id(&p->remote, from);
			short_id(&p->local, to);
			log_info("remote %s: %s %s..%s%s", r->name, branch_short(p->ref), from, to,
				 p->action == PUSH_LEASED	? " (rewritten history, lease held)"
				 : p->action == PUSH_FORCED ? " (forced)"
							    : "");
		}
		if (!p->lease_has || !git_oid_equal(&p->lease, &p->local))
			record_lease(repo, c, p);
	}
	if (specs.count > 0) {
		/* libgit2 reports the bytes over the network at the end of the
		 * push; a local push only adds a pack, measured here. */
		if (!c->url.network) {
			uint64_t after = local_pack_bytes(c->url.path);
			if (after > packs_before)
				c->bytes = (size_t)(after - packs_before);
		}
		log_info("remote %s: sent %u objects, %zu bytes", r->name, c->objects, c->bytes);
	}
	rc = c->msg[0] || refused ? -1 : 0;
out:
	if (remote) {
		git_remote_disconnect(remote);
		git_remote_free(remote);
	}
	/* After the remote: its transport points at it. */
	sendpack_free(c->sp);
	c->sp = NULL;
	free(cmds);
	home_swap_end(&home);
	for (size_t i = 0; i < c->n; i++)
		if (c->plan[i].partial) {
			char name[600];
			git_reference *sr = NULL;
			step_ref(c, &c->plan[i], name, sizeof(name));
			if (git_reference_lookup(&sr, repo, name) == 0)
				git_reference_delete(sr);
			git_reference_free(sr);
			git_error_clear();
		}
	for (size_t i = 0; i < specs.count; i++)
		free(specs.strings[i]);
	free(specs.strings);
	if (watchdog_stop(&c->wd) && rc < 0) {
		c->msg[0] = '\0';
		c->fatal = 0;
		fail(c, 0, "remote %s: %s port %d did not answer for %d s; gave up", r->name, c->url.host,
		     c->url.port, r->timeout);
	}
	return rc;
}

static int is_network_ssh(const struct push_ctx *c)
{
	return c->url.network && !strcmp(c->url.scheme, "ssh");
}

/* What push and check share before connecting: the URL, the known_hosts
 * file, the key and its passphrase source. 0, or an error (err_reset). */
static int ctx_open(struct push_ctx *c, const struct remote_cfg *r, const char *const *branches, size_t n)
{
	char why[512];
	memset(c, 0, sizeof(*c));
	c->r = r;
	if (remote_url_parse(r->url, &c->url, why, sizeof(why)) < 0)
		return err_reset(ERR_USAGE, "remote %s: bad url '%s': %s", r->name, r->url, why);
	c->known_hosts = r->known_hosts ? expand_home(r->known_hosts) : default_known_hosts();
	c->plan = calloc(n ? n : 1, sizeof(*c->plan));
	c->n = n;
	if (!c->plan || !c->known_hosts)
		return err_reset(ERR_GENERIC, "out of memory");
	for (size_t i = 0; i < n; i++)
		c->plan[i].ref = branches[i];

	if (is_network_ssh(c) && r->ssh_key) {
		if (access(r->ssh_key, R_OK) < 0)
			return err_reset(ERR_USAGE, "remote %s: cannot read ssh_key %s: %s", r->name, r->ssh_key,
					 strerror(errno));
		if (remote_secret_file_check(r->ssh_key, "ssh_key", why, sizeof(why)) < 0 ||
		    (r->passphrase_file &&
		     remote_secret_file_check(r->passphrase_file, "passphrase_file", why, sizeof(why)) < 0))
			return err_reset(ERR_USAGE, "remote %s: %s", r->name, why);
		if (r->passphrase_env && !secret_get(r->passphrase_env))
			return err_reset(ERR_USAGE, "remote %s: passphrase_env names %s, which is not set", r->name,
					 r->passphrase_env);
		char *pub = r->ssh_pubkey ? xstrdup(r->ssh_pubkey) : xasprintf("%s.pub", r->ssh_key);
		remote_key_inspect(r->ssh_key, pub && fs_exists(pub) ? pub : NULL, &c->key);
		free(pub);
		if (c->key.encrypted && !r->passphrase_env && !r->passphrase_file)
			return err_reset(ERR_USAGE, "remote %s: ssh_key %s is encrypted; set passphrase_env or passphrase_file",
					 r->name, r->ssh_key);
	}
	return 0;
}

static void ctx_close(struct push_ctx *c)
{
	git_error_clear();
	remote_url_free(&c->url);
	remote_key_info_free(&c->key);
	free(c->known_hosts);
	free(c->plan);
}

int remote_check(struct store *st, const struct remote_cfg *r)
{
	struct push_ctx c;
	int rc = ctx_open(&c, r, NULL, 0);
	if (rc == 0) {
		c.check_only = 1;
		/* One attempt: a check reports, the next run retries. */
		if (push_attempt(store_git(st), &c, 0) < 0)
			rc = err_reset(c.fatal ? c.fatal : ERR_PUSH, "%s", c.msg[0] ? c.msg : "cannot connect");
	}
	ctx_close(&c);
	return rc;
}

int remote_push(struct store *st, const struct config *cfg, const struct remote_cfg *r,
		const char *const *branches, size_t n, int force)
{
	(void)cfg;
	git_repository *repo = store_git(st);
	struct push_ctx c;
	int rc = ctx_open(&c, r, branches, n);
	if (rc < 0)
		goto out;
	if (plan_local(repo, &c) < 0) {
		rc = err_reset(ERR_USAGE, "%s", c.msg);
		goto out;
	}
	size_t have = 0;
	for (size_t i = 0; i < n; i++)
		have += c.plan[i].have_local;
	if (have == 0) {
		log_info("remote %s: no snapshots to push yet", r->name);
		goto out;
	}

	int attempts = r->retries > 0 ? r->retries : 3;
	int delay = 1;
	for (int a = 1; a <= attempts; a++) {
		if (push_attempt(repo, &c, force) == 0) {
			if (!c.partial)
				goto out;
			/* A step went out (max_push_size): the next one gets its
			 * own attempts. Each step sends at least one commit, so
			 * this ends. */
			c.step_no++;
			a = 0;
			delay = 1;
			continue;
		}
		if (c.fatal || a == attempts)
			break;
		log_warn("%s; retrying in %d s (attempt %d of %d)", c.msg, delay, a + 1, attempts);
		sleep((unsigned)delay);
		delay *= 2;
	}
	if (c.fatal)
		rc = err_reset(c.fatal, "%s", c.msg);
	else if (attempts > 1)
		rc = err_reset(ERR_PUSH, "%s (gave up after %d attempts; the snapshots are safe locally and the next run pushes them)",
			       c.msg, attempts);
	else
		rc = err_reset(ERR_PUSH, "%s", c.msg);
out:
	ctx_close(&c);
	return rc;
}

int remote_err_rank(int code)
{
	/* A broken configuration first, then a refusal a person must see
	 * to, then a failure the next run retries. */
	switch (code) {
	case 0:
		return 0;
	case ERR_PUSH:
		return 1;
	case ERR_REFUSED:
		return 3;
	case ERR_USAGE:
		return 4;
	default:
		return 2;
	}
}

int remote_push_all(struct store *st, const struct config *cfg, const char *const *branches, size_t n,
		    int force)
{
	/* Keep a failure reported before us (a job that failed) as it was
	 * unless a push fails too. */
	int prev_code = err_code();
	char *prev_msg = prev_code ? xstrdup(err_last()) : NULL;
	int worst = 0, failed = 0;
	char *first = NULL;

	for (size_t i = 0; i < cfg->n_remotes; i++) {
		err_clear();
		int rc = remote_push(st, cfg, &cfg->remotes[i], branches, n, force);
		if (rc == 0)
			continue;
		failed++;
		if (worst == 0 || remote_err_rank(rc) > remote_err_rank(worst))
			worst = rc;
		if (!first)
			first = xstrdup(err_last());
		if (cfg->n_remotes > 1)
			log_error("%s", err_last());
	}
	err_clear();
	if (failed == 1 && first)
		err_reset(worst, "%s", first);
	else if (failed > 1)
		err_reset(worst, "push failed for %d of %zu remotes (see above)", failed, cfg->n_remotes);
	else if (prev_code)
		err_reset(prev_code, "%s", prev_msg);
	free(first);
	free(prev_msg);
	/* Every remote has had its turn: the passphrases are not needed again. */
	remote_secrets_wipe();
	return worst;
}

int remote_sync_state(struct store *st, const struct remote_cfg *r, const char *branch,
		      enum remote_sync *out)
{
	git_repository *repo = store_git(st);
	git_oid local, lease;
	char name[512];
	if (remote_lease_ref(r->name, branch, name, sizeof(name)) < 0)
		return err_set(ERR_USAGE, "remote %s: branch name %s too long", r->name, branch);
	int have_local = git_reference_name_to_id(&local, repo, branch) == 0;
	int have_lease = git_reference_name_to_id(&lease, repo, name) == 0;
	git_error_clear();
	if (!have_lease)
		*out = REMOTE_NEVER_PUSHED;
	else if (!have_local)
		*out = REMOTE_DIVERGED;
	else if (git_oid_equal(&local, &lease))
		*out = REMOTE_IN_SYNC;
	else if (git_graph_descendant_of(repo, &local, &lease) == 1)
		*out = REMOTE_AHEAD;
	else
		*out = REMOTE_DIVERGED;
	git_error_clear();
	return 0;
}

const char *remote_sync_name(enum remote_sync s)
{
	switch (s) {
	case REMOTE_IN_SYNC:
		return "in sync";
	case REMOTE_AHEAD:
		return "ahead";
	case REMOTE_NEVER_PUSHED:
		return "never pushed";
	case REMOTE_DIVERGED:
		return "rewritten, not pushed";
	}
	return "?";
}

int remote_probe(const struct remote_cfg *r)
{
	char why[512];
	struct remote_url u;
	int rc = 0;
	if (remote_url_parse(r->url, &u, why, sizeof(why)) < 0)
		return err_set(ERR_USAGE, "remote '%s': %s", r->name, why);
	if (!u.network) {
		/* A local remote must be a git repository already: dbgit never
		 * creates one on another disk by a typo. */
		char *objects = xasprintf("%s/objects", u.path);
		char *dotgit = xasprintf("%s/.git", u.path);
		if (!fs_is_dir(u.path))
			rc = err_set(ERR_REFUSED, "remote '%s': %s does not exist", r->name, u.path);
		else if (!fs_is_dir(objects) && !fs_exists(dotgit))
			rc = err_set(ERR_REFUSED, "remote '%s': %s is not a git repository", r->name, u.path);
		free(objects);
		free(dotgit);
		remote_url_free(&u);
		return rc;
	}
	if (r->ssh_key && remote_secret_file_check(r->ssh_key, "ssh_key", why, sizeof(why)) < 0)
		rc = err_set(ERR_USAGE, "remote '%s': %s", r->name, why);
	else if (r->passphrase_file &&
		 remote_secret_file_check(r->passphrase_file, "passphrase_file", why, sizeof(why)) < 0)
		rc = err_set(ERR_USAGE, "remote '%s': %s", r->name, why);
	if (rc == 0 && !strcmp(u.scheme, "ssh")) {
		char *kh = r->known_hosts ? expand_home(r->known_hosts) : default_known_hosts();
		if (access(kh, R_OK) != 0) {
			char port[32] = "";
			if (u.port != 22)
				snprintf(port, sizeof(port), "-p %d ", u.port);
			rc = err_set(ERR_USAGE,
				     "remote '%s': known_hosts %s: %s (`ssh-keyscan -t ed25519 %s%s >>%s` adds the "
				     "host; check its fingerprint)",
				     r->name, kh, strerror(errno), port, u.host, kh);
		}
		free(kh);
	}
	remote_url_free(&u);
	return rc;
}
