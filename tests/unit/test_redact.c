/*
 * Unit tests for redact_command: a command recorded as a snapshot's source
 * (engine = "command") never carries a password into the repository and its
 * remotes, and everything else in it stays readable.
 */
#include <stdlib.h>
#include <string.h>

#include "dbgit/util.h"

#include "check.h"

static void same(const char *in, const char *want)
{
	char *got = redact_command(in);
	CHECK(!strcmp(got, want), "redact_command(\"%s\") = \"%s\", want \"%s\"", in, got, want);
	free(got);
}

int main(void)
{
	same("pg_dump --no-owner app", "pg_dump --no-owner app");
	same("mysqldump --password=hunter2 app", "mysqldump --password=*** app");
	same("mysqldump --password hunter2 app", "mysqldump --password *** app");
	same("mysqldump -uroot -phunter2 app", "mysqldump -uroot -p*** app");
	same("mysqldump -P 3306 -p app", "mysqldump -P 3306 -p app");
	same("PGPASSWORD=hunter2 pg_dump app", "PGPASSWORD=*** pg_dump app");
	same("MYSQL_PWD='a b c' mysqldump x", "MYSQL_PWD=*** mysqldump x");
	same("pg_dump postgresql://backup:hunter2@db/app", "pg_dump postgresql://backup:***@db/app");
	same("pg_dump postgresql://db/app", "pg_dump postgresql://db/app");
	same("pg_dump 'host=db password=hunter2 dbname=app'", "pg_dump 'host=db password=*** dbname=app'");
	same("mongodump --uri mongodb://u:s3cret@h/db --archive", "mongodump --uri mongodb://u:***@h/db --archive");
	same("echo a\nb\tc", "echo a b c");
	same("sqlite3 /srv/app.db .dump", "sqlite3 /srv/app.db .dump");
	return CHECK_DONE();
}
