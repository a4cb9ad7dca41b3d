/*
 * version: what `dbgit --version` prints. The libraries' versions are the
 * ones actually loaded at run time (a distribution may update a shared
 * library under an old binary), so a bug report names what really ran; and
 * a test build says that it honours the test-only environment variables, so
 * it is never mistaken for a production binary.
 */
#include <cjson/cJSON.h>
#include <git2.h>
#include <libssh2.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <stdio.h>
#include <zlib.h>

#include "dbgit/cmd.h"

void cmd_version_print(FILE *out)
{
	int major = 0, minor = 0, rev = 0;
	git_libgit2_version(&major, &minor, &rev);
	fprintf(out, "dbgit %s\n", DBGIT_VERSION);
	fprintf(out, "libgit2 %d.%d.%d, SQLite %s, libssh2 %s, zlib %s, cJSON %s, %s\n", major, minor, rev,
		sqlite3_libversion(), libssh2_version(0), zlibVersion(), cJSON_Version(),
		OpenSSL_version(OPENSSL_VERSION));
#ifdef DBGIT_TEST_HOOKS
	fprintf(out, "test hooks compiled in: DBGIT_NOW, DBGIT_TEST_CORRUPT, DBGIT_TEST_PAUSE_RECLAIM and "
		     "DBGIT_TEST_PAUSE_RESTORE are honoured (a test build, not for production)\n");
#endif
}
