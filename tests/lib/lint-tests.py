#!/usr/bin/env python3
"""lint-tests.py FILE...: finds checks in dbgit's test scripts that cannot fail.

A test_case body runs under `set -e`, but bash ignores `set -e` for every
command of an && / || list but the last and for a `!` pipeline, so
    [ "$a" = 1 ] && [ "$b" = 2 ]      # a wrong $a is never noticed
    ! grep -q secret log               # passes whether or not grep finds it
    grep -q ok log || true             # the check is thrown away
pass whatever happens (unless they are the very last command). Write one
check per line, and test_must_fail CMD instead of `! CMD`.

Flagged, outside heredocs, comments and double-quoted strings:
  and      a `&&` list used as a statement. Not flagged: `if`/`elif`/`while`/
           `until` conditions, `&& break|continue|return|exit`, a list that
           ends in a fallback which fails (`|| { ...; return 1; }`,
           `|| exit 1`), `[[ a && b ]]`, and `(cd DIR && ...)` (the restore
           recipe of the README, whose result the next check compares).
  not      a statement that starts with `!`.
  true     `|| true` / `|| :` after anything but kill, wait, rm, rmdir,
           umount (cleanup that may find nothing to do), or inside $(...)
           (where the output is what is checked).
Prints FILE:LINE: RULE: TEXT for each and exits 1 if any.
"""
import re
import sys

HEREDOC = re.compile(r"(?<!<)<<(-?)\s*\\?(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2(?!<)")
FAILING_FALLBACK = re.compile(r"\|\|\s*(\{[^}]*\b(return|exit)\s+[1-9]|(return|exit)\s+[1-9]|false\b)")
CLEANUP = {"kill", "wait", "rm", "rmdir", "umount"}


def strip_comment(line):
    """The line without a trailing comment (a # that starts a word and is
    not inside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            # A quote only opens a string if it is not part of a word such
            # as don't; test bodies are single-quoted as a whole, so treat
            # quotes leniently: track them, but never across lines.
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t;"):
            return line[:i]
    return line


def statements(path):
    """(line number, text) for each logical line: continuations after a
    trailing \\, && or || are joined; heredoc bodies are skipped."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        start = i
        text = strip_comment(lines[i]).rstrip()
        ends = []
        for m in HEREDOC.finditer(text):
            ends.append((m.group(1) == "-", m.group(3)))
        while (text.endswith("\\") or text.endswith("&&") or text.endswith("||")) and i + 1 < len(lines):
            i += 1
            text = text.rstrip("\\") + " " + strip_comment(lines[i]).strip()
            for m in HEREDOC.finditer(text):
                ends.append((m.group(1) == "-", m.group(3)))
        yield start + 1, text
        i += 1
        for dash, word in ends:
            while i < len(lines) and (lines[i].lstrip("\t") if dash else lines[i]).rstrip() != word:
                i += 1
            i += 1


def check_and(s):
    t = s.strip()
    if re.match(r"(if|elif|while|until)\b", t):
        return False
    t = re.sub(r"\[\[.*?\]\]", "", t)
    t = re.sub(r"\(\s*cd\s+[^&;]*&&", "(", t)
    t = re.sub(r"&&\s*(break|continue|return|exit)\b", "", t)
    if "&&" not in t:
        return False
    return not FAILING_FALLBACK.search(t)


def check_not(s):
    return re.match(r"\s*(then\s+|do\s+|else\s+)?!\s", s) is not None


def check_true(s):
    for m in re.finditer(r"\|\|\s*(true|:)(\s|;|$|\))", s):
        before = s[: m.start()]
        if before.count("$(") > before.count(")"):
            continue  # inside $(...): only the captured output, which is checked, counts
        last = re.split(r";|&&|\|\||\||\$\(|`|\bthen\b|\bdo\b|\{", before)[-1].split()
        if not last or last[0] not in CLEANUP:
            return True
    return False


def unquote(s):
    """s with the insides of double-quoted strings dropped: an && in a
    message or a grep pattern is text, not a list."""
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', s)


def main(paths):
    bad = 0
    for path in paths:
        for n, s in statements(path):
            for rule, check in (("and", check_and), ("not", check_not), ("true", check_true)):
                if check(unquote(s)):
                    print("%s:%d: %s: %s" % (path, n, rule, s.strip()))
                    bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
