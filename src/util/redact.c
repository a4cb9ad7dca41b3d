/*
 * redact: a command line as it may be recorded (a snapshot's "source"),
 * with what looks like a password replaced by "***". Commands should take
 * passwords from files or the environment; this is the safety net for one
 * that does not, so that the secret does not travel into every commit and
 * every remote. Control characters become spaces, so the text stays one
 * line.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "dbgit/util.h"

/* Words after which (joined by '=' or ' ') the next token is a secret. */
static const char *const secret_keys[] = {
	"--password", "--passwd", "--pass", "password", "passwd", "pgpassword", "mysql_pwd", "--token",
	"token", "secret", "--secret",
};

static size_t token_end(const char *s, size_t i)
{
	char quote = 0;
	for (; s[i]; i++) {
		if (quote) {
			if (s[i] == quote)
				quote = 0;
		} else if (s[i] == '\'' || s[i] == '"') {
			quote = s[i];
		} else if (isspace((unsigned char)s[i])) {
			break;
		}
	}
	return i;
}

/* Does the word ending at s[end) (exclusive) end with a secret key? */
static int ends_with_key(const char *s, size_t start, size_t end)
{
	for (size_t k = 0; k < sizeof(secret_keys) / sizeof(secret_keys[0]); k++) {
		size_t n = strlen(secret_keys[k]);
		if (end - start >= n && !strncasecmp(s + end - n, secret_keys[k], n) &&
		    (end - n == start || !isalnum((unsigned char)s[end - n - 1]) || secret_keys[k][0] == '-'))
			return 1;
	}
	return 0;
}

/* Does the token s[start, end) hold a key=value whose key is secret? */
static int secret_assignment(const char *s, size_t start, size_t end)
{
	for (size_t j = start; j < end; j++)
		if (s[j] == '=' && ends_with_key(s, start, j))
			return 1;
	return 0;
}

/* Copies the token s[start, end), each secret key=value as key=***; a
 * value ends at a space or a quote, or is itself quoted. */
static void add_assignments(struct buf *out, const char *s, size_t start, size_t end)
{
	size_t j = start;
	while (j < end) {
		buf_add(out, s + j, 1);
		if (s[j] != '=' || !ends_with_key(s, start, j)) {
			j++;
			continue;
		}
		buf_puts(out, "***");
		j++;
		if (j < end && (s[j] == '\'' || s[j] == '"')) {
			char q = s[j++];
			while (j < end && s[j] != q)
				j++;
			if (j < end)
				j++;
		} else {
			while (j < end && !isspace((unsigned char)s[j]) && s[j] != '\'' && s[j] != '"')
				j++;
		}
	}
}

char *redact_command(const char *cmd)
{
	struct buf out = BUF_INIT;
	size_t i = 0, len = strlen(cmd);
	int hide_next = 0;
	while (i < len) {
		if (isspace((unsigned char)cmd[i]) || iscntrl((unsigned char)cmd[i])) {
			buf_add(&out, " ", 1);
			i++;
			continue;
		}
		size_t end = token_end(cmd, i);
		const char *tok = cmd + i;
		size_t n = end - i;
		const char *eq = memchr(tok, '=', n);
		const char *at = memchr(tok, '@', n);
		const char *scheme = strstr(tok, "://");
		if (hide_next) {
			buf_puts(&out, "***");
			hide_next = 0;
		} else if (eq && secret_assignment(cmd, i, end)) {
			/* --password=x, PGPASSWORD=x, password=x inside a quoted DSN */
			add_assignments(&out, cmd, i, end);
		} else if (ends_with_key(cmd, i, end) && !eq) {
			/* --password x */
			buf_add(&out, tok, n);
			hide_next = 1;
		} else if (n > 2 && tok[0] == '-' && tok[1] == 'p' && !eq && tok[2] != '-' &&
			   !isdigit((unsigned char)tok[2])) {
			/* mysql's -pSECRET (a port is -P or --port) */
			buf_puts(&out, "-p***");
		} else if (scheme && at && scheme < at && scheme + 3 < tok + n) {
			/* scheme://user:secret@host */
			const char *colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));
			if (colon) {
				buf_add(&out, tok, (size_t)(colon - tok) + 1);
				buf_puts(&out, "***");
				buf_add(&out, at, (size_t)(tok + n - at));
			} else {
				buf_add(&out, tok, n);
			}
		} else {
			for (size_t j = 0; j < n; j++)
				buf_add(&out, iscntrl((unsigned char)tok[j]) ? " " : tok + j, 1);
		}
		i = end;
	}
	char *s = xstrdup(buf_cstr(&out));
	buf_free(&out);
	return s;
}
