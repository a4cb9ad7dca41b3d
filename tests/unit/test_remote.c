/*
 * test_remote: the remote module's parts one by one - URL forms, host key
 * fingerprints and known_hosts (plain, [host]:port, hashed), the lease
 * decision, and the network probe and watchdog against real sockets.
 */
#include <arpa/inet.h>
#include <git2.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../src/remote/remote_internal.h"
#include "dbgit/util.h"

static int failures;

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                              \
		}                                                                \
	} while (0)
#define CHECK_STR(a, b)                                                                        \
	do {                                                                                   \
		const char *a_ = (a), *b_ = (b);                                               \
		if (!a_ || !b_ || strcmp(a_, b_)) {                                            \
			fprintf(stderr, "%s:%d: '%s' != '%s'\n", __FILE__, __LINE__,            \
				a_ ? a_ : "(null)", b_ ? b_ : "(null)");                      \
			failures++;                                                    \
		}                                                                              \
	} while (0)

static void test_urls(void)
{
	struct remote_url u;
	char why[256];

	CHECK(remote_url_parse("git@github.com:example/db-backups.git", &u, why, sizeof(why)) == 0);
	CHECK(u.network);
	CHECK_STR(u.scheme, "ssh");
	CHECK_STR(u.user, "git");
	CHECK_STR(u.host, "github.com");
	CHECK(u.port == 22 && !u.port_given);
	CHECK_STR(u.path, "example/db-backups.git");
	remote_url_free(&u);

	CHECK(remote_url_parse("ssh://root@127.0.0.1:2222/tmp/x/remote.git", &u, why, sizeof(why)) == 0);
	CHECK_STR(u.user, "root");
	CHECK_STR(u.host, "127.0.0.1");
	CHECK(u.port == 2222 && u.port_given);
	CHECK_STR(u.path, "/tmp/x/remote.git");
	remote_url_free(&u);

	CHECK(remote_url_parse("ssh://nas.local/volume1/backups.git", &u, why, sizeof(why)) == 0);
	CHECK(u.user == NULL);
	CHECK(u.port == 22);
	remote_url_free(&u);

	CHECK(remote_url_parse("ssh://git@[::1]:2200/r.git", &u, why, sizeof(why)) == 0);
	CHECK_STR(u.host, "::1");
	CHECK(u.port == 2200);
	remote_url_free(&u);

	CHECK(remote_url_parse("/srv/backups/db.git", &u, why, sizeof(why)) == 0);
	CHECK(!u.network && u.host == NULL);
	CHECK_STR(u.path, "/srv/backups/db.git");
	remote_url_free(&u);

	/* A colon after a slash is part of a path, not a host. */
	CHECK(remote_url_parse("./backups/a:b.git", &u, why, sizeof(why)) == 0);
	CHECK(!u.network);
	remote_url_free(&u);

	CHECK(remote_url_parse("file:///mnt/usb/db.git", &u, why, sizeof(why)) == 0);
	CHECK(!u.network);
	CHECK_STR(u.scheme, "file");
	CHECK_STR(u.path, "/mnt/usb/db.git");
	remote_url_free(&u);

	CHECK(remote_url_parse("https://gitlab.example.org/a/b.git", &u, why, sizeof(why)) == 0);
	CHECK(u.network && u.port == 443);
	remote_url_free(&u);

	CHECK(remote_url_parse("ssh://host:99999/x", &u, why, sizeof(why)) == ERR_USAGE);
	CHECK(strstr(why, "port") != NULL);
	CHECK(remote_url_parse("ftp://host/x", &u, why, sizeof(why)) == ERR_USAGE);
	CHECK(remote_url_parse("ssh://host", &u, why, sizeof(why)) == ERR_USAGE);
	CHECK(remote_url_parse("", &u, why, sizeof(why)) == ERR_USAGE);
}

/* The raw key blob of an OpenSSH public key line's base64 part. */
static size_t decode_key(const char *b64, unsigned char *out)
{
	int n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)strlen(b64));
	size_t len = (size_t)n;
	for (const char *p = b64 + strlen(b64); p > b64 && p[-1] == '='; p--)
		len--;
	return len;
}

#define KEY1 "AAAAC3NzaC1lZDI1NTE5AAAAIEXgQXOzhhi1phG/zA7Zd9pjaAVw2qDCo+TQlTS1ZsAH"
#define KEY1_FP "SHA256:uybVFUihv/XXaJfwnubklQe+iweaO6GGnCBZQ2xeiSg" /* ssh-keygen -l */
#define KEY2 "AAAAC3NzaC1lZDI1NTE5AAAAIDCYPOkDpMvut7t8U7qPG36nEecMamQDOfPLFzeTtANc"
#define ED25519 GIT_CERT_SSH_RAW_TYPE_KEY_ED25519

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void test_hostkeys(const char *dir)
{
	unsigned char k1[128], k2[128];
	size_t l1 = decode_key(KEY1, k1), l2 = decode_key(KEY2, k2);
	char fp[64], why[512], name[300];

	remote_fingerprint(k1, l1, fp);
	CHECK_STR(fp, KEY1_FP);
	CHECK_STR(remote_hostkey_type_name(ED25519), "ssh-ed25519");
	remote_known_host_name("github.com", 22, name, sizeof(name));
	CHECK_STR(name, "github.com");
	remote_known_host_name("127.0.0.1", 2222, name, sizeof(name));
	CHECK_STR(name, "[127.0.0.1]:2222");

	char *kh = xasprintf("%s/sub/known_hosts", dir);
	/* No file: unknown, not an error. */
	CHECK(remote_hostkey_check(kh, "127.0.0.1", 2222, ED25519, k1, l1, why, sizeof(why)) == HOSTKEY_UNKNOWN);
	/* accept-new writes one line, into a directory it creates. */
	CHECK(remote_hostkey_add(kh, "127.0.0.1", 2222, ED25519, k1, l1, why, sizeof(why)) == 0);
	char *text = NULL;
	CHECK(fs_read_small(kh, &text, 4096) == 0);
	CHECK_STR(text, "[127.0.0.1]:2222 ssh-ed25519 " KEY1);
	free(text);
	CHECK(remote_hostkey_check(kh, "127.0.0.1", 2222, ED25519, k1, l1, why, sizeof(why)) == HOSTKEY_MATCH);
	CHECK(remote_hostkey_check(kh, "127.0.0.1", 2222, ED25519, k2, l2, why, sizeof(why)) == HOSTKEY_CHANGED);
	/* The key recorded for port 2222 says nothing about port 22 or 2200. */
	CHECK(remote_hostkey_check(kh, "127.0.0.1", 22, ED25519, k2, l2, why, sizeof(why)) == HOSTKEY_UNKNOWN);
	CHECK(remote_hostkey_check(kh, "127.0.0.1", 2200, ED25519, k1, l1, why, sizeof(why)) == HOSTKEY_UNKNOWN);
	/* Another key type for the host is unknown, not changed. */
	CHECK(remote_hostkey_check(kh, "127.0.0.1", 2222, GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_256, k2, l2, why,
				   sizeof(why)) == HOSTKEY_UNKNOWN);

	/* A user's file: comments, a plain port-22 entry, an entry libssh2
	 * cannot read, and no newline at the end; appending keeps them all. */
	char *kh2 = xasprintf("%s/known_hosts2", dir);
	write_file(kh2, "# my hosts\n"
			"nas.local ssh-ed25519 " KEY2 "\n"
			"@cert-authority *.example.org ssh-ed25519 " KEY1 "\n"
			"other.example.org ssh-ed25519 " KEY1);
	CHECK(remote_hostkey_check(kh2, "nas.local", 22, ED25519, k2, l2, why, sizeof(why)) == HOSTKEY_MATCH);
	CHECK(remote_hostkey_check(kh2, "nas.local", 22, ED25519, k1, l1, why, sizeof(why)) == HOSTKEY_CHANGED);
	CHECK(remote_hostkey_add(kh2, "nas.local", 2222, ED25519, k1, l1, why, sizeof(why)) == 0);
	CHECK(fs_read_small(kh2, &text, 4096) == 0);
	CHECK(strstr(text, "# my hosts\n") == text);
	CHECK(strstr(text, "other.example.org ssh-ed25519 " KEY1 "\n[nas.local]:2222 ssh-ed25519 " KEY1) != NULL);
	free(text);

	/* Hashed entries (HashKnownHosts yes, Debian's default). */
	unsigned char salt[20];
	for (int i = 0; i < 20; i++)
		salt[i] = (unsigned char)(i * 7 + 3);
	const char *hashed_name = "[git.example.org]:2022";
	unsigned char mac[20];
	unsigned int maclen = 0;
	HMAC(EVP_sha1(), salt, sizeof(salt), (const unsigned char *)hashed_name, strlen(hashed_name), mac, &maclen);
	unsigned char bsalt[64], bmac[64];
	EVP_EncodeBlock(bsalt, salt, sizeof(salt));
	EVP_EncodeBlock(bmac, mac, (int)maclen);
	char *kh3 = xasprintf("%s/known_hosts3", dir);
	char line[512];
	snprintf(line, sizeof(line), "|1|%s|%s ssh-ed25519 %s\n", bsalt, bmac, KEY1);
	write_file(kh3, line);
	CHECK(remote_hostkey_check(kh3, "git.example.org", 2022, ED25519, k1, l1, why, sizeof(why)) == HOSTKEY_MATCH);
	CHECK(remote_hostkey_check(kh3, "git.example.org", 2022, ED25519, k2, l2, why, sizeof(why)) == HOSTKEY_CHANGED);
	CHECK(remote_hostkey_check(kh3, "git.example.org", 22, ED25519, k1, l1, why, sizeof(why)) == HOSTKEY_UNKNOWN);
	/* Hashed lines count as "known by this type" for accept-new. */
	CHECK(remote_hostkey_types(kh3, "git.example.org", 2022) == 1u << ED25519);
	CHECK(remote_hostkey_types(kh3, "git.example.org", 22) == 0);
	CHECK(remote_hostkey_types(kh2, "nas.local", 22) == 1u << ED25519);

	/* @revoked: refused even when also listed; by exact name, wildcard,
	 * hashed name; a negated pattern or another host does not apply. */
	char *kh4 = xasprintf("%s/known_hosts4", dir);
	snprintf(line, sizeof(line),
		 "[git.example.org]:2022 ssh-ed25519 %s\n"
		 "@revoked [git.example.org]:2022 ssh-ed25519 %s\n", KEY1, KEY1);
	write_file(kh4, line);
	CHECK(remote_hostkey_check(kh4, "git.example.org", 2022, ED25519, k1, l1, why, sizeof(why)) == HOSTKEY_REVOKED);
	CHECK(remote_hostkey_check(kh4, "git.example.org", 2022, ED25519, k2, l2, why, sizeof(why)) == HOSTKEY_CHANGED);
	CHECK(remote_hostkey_revoked(kh4, "git.example.org", 22, k1, l1) == 0);
	write_file(kh4, "@revoked *.EXAMPLE.org,!nas.example.org ssh-ed25519 " KEY2 "\n");
	CHECK(remote_hostkey_revoked(kh4, "git.example.org", 22, k2, l2) == 1);
	CHECK(remote_hostkey_revoked(kh4, "git.example.org", 22, k1, l1) == 0);
	CHECK(remote_hostkey_revoked(kh4, "nas.example.org", 22, k2, l2) == 0);
	CHECK(remote_hostkey_revoked(kh4, "example.com", 22, k2, l2) == 0);
	CHECK(remote_hostkey_check(kh4, "git.example.org", 22, ED25519, k2, l2, why, sizeof(why)) == HOSTKEY_REVOKED);
	snprintf(line, sizeof(line), "@revoked |1|%s|%s ssh-ed25519 %s\n", bsalt, bmac, KEY2);
	write_file(kh4, line);
	CHECK(remote_hostkey_revoked(kh4, "git.example.org", 2022, k2, l2) == 1);
	CHECK(remote_hostkey_revoked(kh4, "git.example.org", 2023, k2, l2) == 0);

	/* What libgit2 is told to ask for: never RSA, else a revoked type. */
	char *pref = xasprintf("%s/pref", dir);
	CHECK(remote_hostkey_prefer_file(kh4, "git.example.org", 2022, pref, why, sizeof(why)) == 0);
	CHECK(fs_read_small(pref, &text, 4096) == 0);
	CHECK_STR(text, "[git.example.org]:2022 ssh-ed25519 " KEY2);
	free(text);
	write_file(kh4, "[h]:2 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7\n");
	CHECK(remote_hostkey_prefer_file(kh4, "h", 2, pref, why, sizeof(why)) == 0);
	CHECK(fs_read_small(pref, &text, 4096) == 0);
	CHECK_STR(text, "");
	free(text);
	free(pref);
	free(kh4);

	free(kh);
	free(kh2);
	free(kh3);
}

static void test_lease(void)
{
	struct lease_facts f;
#define DECIDE(...) (f = (struct lease_facts){__VA_ARGS__}, remote_decide(&f))
	CHECK(DECIDE(.remote_has = 0) == PUSH_CREATE);
	CHECK(DECIDE(.remote_has = 0, .lease_has = 1) == PUSH_CREATE);
	CHECK(DECIDE(.remote_has = 1, .same = 1) == PUSH_UP_TO_DATE);
	CHECK(DECIDE(.remote_has = 1, .descends = 1, .lease_has = 1) == PUSH_FAST_FORWARD);
	/* Fast-forward over someone else's commit is still a fast-forward:
	 * nothing of theirs is lost. */
	CHECK(DECIDE(.remote_has = 1, .descends = 1) == PUSH_FAST_FORWARD);
	/* Rotation rewrote history; the remote has what we pushed. */
	CHECK(DECIDE(.remote_has = 1, .lease_has = 1, .lease_matches = 1) == PUSH_LEASED);
	/* Someone else moved it. */
	CHECK(DECIDE(.remote_has = 1, .lease_has = 1, .lease_matches = 0) == PUSH_REFUSE);
	CHECK(DECIDE(.remote_has = 1, .lease_has = 0) == PUSH_REFUSE);
	CHECK(DECIDE(.remote_has = 1, .lease_has = 1, .force = 1) == PUSH_FORCED);
	CHECK(DECIDE(.remote_has = 1, .force = 1) == PUSH_FORCED);
#undef DECIDE

	char ref[128];
	CHECK(remote_lease_ref("github", "refs/heads/backup/app", ref, sizeof(ref)) == 0);
	CHECK_STR(ref, "refs/dbgit/remotes/github/backup/app");
	CHECK(remote_lease_ref("nas", "backup/app", ref, sizeof(ref)) == 0);
	CHECK_STR(ref, "refs/dbgit/remotes/nas/backup/app");
	CHECK(remote_lease_ref("nas", "refs/heads/backup/a-very-long-branch-name-indeed", ref, 20) < 0);
}

static int listen_local(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static void test_net(void)
{
	struct net_peers peers;
	char why[256];
	int port = 0;
	int lfd = listen_local(&port);
	CHECK(lfd >= 0);
	CHECK(net_probe("127.0.0.1", port, 2, &peers, why, sizeof(why)) == 0);
	CHECK(peers.n >= 1);

	/* A server that accepts and then says nothing: the watchdog cuts the
	 * blocked read after the timeout. */
	int c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(connect(c, (struct sockaddr *)&a, sizeof(a)) == 0);
	struct watchdog w;
	time_t t0 = time(NULL);
	CHECK(watchdog_start(&w, 1, &peers, port) == 0);
	char b;
	ssize_t n = recv(c, &b, 1, 0);
	CHECK(n <= 0);
	CHECK(time(NULL) - t0 <= 4);
	CHECK(watchdog_stop(&w) == 1);
	close(c);

	/* Touched often enough, it never fires. */
	CHECK(watchdog_start(&w, 1, &peers, port) == 0);
	for (int i = 0; i < 6; i++) {
		usleep(250 * 1000);
		watchdog_touch(&w);
	}
	CHECK(watchdog_stop(&w) == 0);

	/* Nobody listening: refused, in no time, and said so. */
	close(lfd);
	CHECK(net_probe("127.0.0.1", port, 2, &peers, why, sizeof(why)) < 0);
	CHECK(strstr(why, "Connection refused") != NULL);
	CHECK(net_probe("no-such-host.invalid", 22, 2, &peers, why, sizeof(why)) < 0);
	CHECK(strstr(why, "cannot resolve") != NULL);
}

int main(void)
{
	char *dir = NULL;
	if (fs_mkdtemp(&dir, "test-remote") < 0) {
		fprintf(stderr, "%s\n", err_last());
		return 1;
	}
	test_urls();
	test_hostkeys(dir);
	test_lease();
	test_net();
	fs_rmtree(dir);
	free(dir);
	if (failures) {
		fprintf(stderr, "%d checks failed\n", failures);
		return 1;
	}
	printf("test_remote: all checks passed\n");
	return 0;
}
