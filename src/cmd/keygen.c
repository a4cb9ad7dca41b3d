/* keygen: a new encryption key file for [repository] key_file. */
#include <stdio.h>

#include "dbgit/cmd.h"
#include "dbgit/crypt.h"
#include "dbgit/util.h"

static int cmd_keygen(struct cmd_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	const char *pos[1] = {NULL};
	int npos, rc;
	if ((rc = cmd_parse(&cmd_keygen_entry, argc, argv, NULL, pos, 1, &npos)) != 0)
		return rc;
	if (npos < 1)
		return cmd_usage_error(&cmd_keygen_entry, "which file?");
	struct crypt_key *key = NULL;
	if ((rc = crypt_keygen(pos[0])) < 0 || (rc = crypt_key_load(&key, pos[0])) < 0)
		return cmd_fail(rc);
	fprintf(stderr,
		"dbgit: new key %s written to %s (mode 0600). Keep a copy somewhere else: without it no "
		"encrypted snapshot can be read, by anyone.\n",
		key->id, pos[0]);
	crypt_key_free(key);
	return EXIT_OK;
}

const struct cmd_entry cmd_keygen_entry = {
	.name = "keygen",
	.usage = "keygen FILE",
	.summary = "write a new encryption key",
	.help = "Writes 32 random bytes as a new key file (a version line, then hex), mode\n"
		"0600, never over an existing file. Set [repository] key_file = FILE and every\n"
		"snapshot written from then on is encrypted with it; older plain snapshots stay\n"
		"readable. Back the key up apart from the backups: losing it loses every\n"
		"snapshot encrypted with it, and nobody can recover them.\n"
		"Exit status: 0 written; 2 FILE exists or cannot be created.\n",
	.exec = cmd_keygen,
};
