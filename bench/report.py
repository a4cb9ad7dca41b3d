#!/usr/bin/env python3
"""report.py RESULTS JSON: bench.sh's figures as markdown tables (JSON=0) or
as one JSON document (JSON=1). RESULTS holds "key value" lines."""
import json
import statistics
import sys

MIB = 1024 * 1024
raw = {}
with open(sys.argv[1]) as f:
    for line in f:
        k, _, v = line.rstrip("\n").partition(" ")
        raw[k] = v


def num(k, default=None):
    v = raw.get(k)
    if v is None:
        return default
    try:
        return float(v)
    except ValueError:
        return default


nights = int(num("nights"))
rows = num("rows")


def night_figures(prefix, steps=None):
    """(first, median of nights 2..N, peak RSS KiB) of a tool, or None."""
    times, rss = [], []
    for n in range(1, nights + 1):
        keys = ["%s.%s.n%d" % (prefix, s, n) for s in steps] if steps else ["%s.n%d" % (prefix, n)]
        if any(num(k + ".s") is None for k in keys):
            return None
        times.append(sum(num(k + ".s") for k in keys))
        rss.extend(num(k + ".rss") for k in keys)
    return times[0], statistics.median(times[1:]), max(rss)


tools = []  # (id, label, figures, repo bytes, restore seconds, restore rss)
for tid, label, steps in [("dbgit", "dbgit", None), ("enc", "dbgit, encrypted", None),
                          ("script", "script: `.dump` + restore-test + `git commit`", ["dump", "test", "git"]),
                          ("restic", "restic (`.backup` copy + `restic backup`)", None),
                          ("borg", "borg (`.backup` copy + `borg create`)", None)]:
    fig = night_figures(tid, steps)
    if fig:
        tools.append((tid, label, fig, num(tid + ".repo"), num(tid + ".restore.s"), num(tid + ".restore.rss")))
by = {t[0]: t for t in tools}


def secs(s):
    return "-" if s is None else "%.2f s" % s


def mib(kib):
    return "-" if kib is None else "%.0f MiB" % (kib / 1024)


def mb(b):
    if b is None:
        return "-"
    if b < 1e6:
        return "%.0f kB" % (b / 1e3)
    return "%.1f MB" % (b / 1e6) if b < 1e9 else "%.2f GB" % (b / 1e9)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


d = by["dbgit"]
s = by["script"]
first_steps = [num("script.%s.n1.s" % k) for k in ("dump", "test", "git")]
med_steps = [statistics.median(num("script.%s.n%d.s" % (k, n)) for n in range(2, nights + 1))
             for k in ("dump", "test", "git")]
targets = []  # (figure, dbgit, reference, ratio, target, met)


def target(fig, dv, ref, r, limit, text=None, met=None):
    if met is None and r is not None:
        met = r <= limit
    targets.append({"figure": fig, "dbgit": dv, "reference": ref, "ratio": r,
                    "target": text or ("<= %g" % limit), "met": met})


target("first snapshot", secs(d[2][0]),
       "`.dump` %.2f + restore-test %.2f + `git add/commit` %.2f = %.2f s" % (*first_steps, s[2][0]),
       ratio(d[2][0], s[2][0]), 1.0)
target("nightly snapshot (median)", secs(d[2][1]),
       "same script %.2f s (%.2f + %.2f + %.2f)" % (s[2][1], *med_steps), ratio(d[2][1], s[2][1]), 0.6)
target("nightly / first", "%.2f" % (d[2][1] / d[2][0]), "", d[2][1] / d[2][0], 0.5)
gc_s = num("script.gc.s")
target("repository after %d nights, vs git after `gc --aggressive`" % nights, mb(d[3]),
       "%s (%s before the gc; the gc alone took %.1f s)" % (mb(s[3]), mb(num("script.repo_before_gc")), gc_s),
       ratio(d[3], s[3]), 1.0)
for p in ("restic", "borg"):
    if p in by:
        target("repository after %d nights, vs %s" % (nights, p), mb(d[3]), "%s %s" % (p, mb(by[p][3])),
               ratio(d[3], by[p][3]), 0.1)
target("restore latest", secs(d[4]), "`git show HEAD:dump.sql \\| sqlite3 new.db` %s" % secs(s[4]),
       ratio(d[4], s[4]), 0.8)
target("peak RSS of `backup`", mib(d[2][2]),
       "script %s%s" % (mib(s[2][2]), ", restic %s" % mib(by["restic"][2][2]) if "restic" in by else ""),
       None, 0, "<= 64 MiB", d[2][2] <= 64 * 1024)
target("peak RSS, one 32 MiB BLOB (backup / restore)", "%s / %s" % (mib(num("blob.rss")), mib(num("blob.restore.rss"))),
       "", None, 0, "<= 64 MiB", max(num("blob.rss"), num("blob.restore.rss")) <= 64 * 1024)
rot = num("rotate.s")
target("a night that rotates (keep last 7 of %d: rewrite + reclaim)" % int(num("rotate.snapshots_before")),
       "%s, %s, repository %s -> %s" % (secs(rot), mib(num("rotate.rss")), mb(num("rotate.repo_before")),
                                         mb(num("rotate.repo_after"))),
       "a night without rotation %s" % secs(d[2][1]), ratio(rot, d[2][1]), 1.2)
push_limit = 2e6 * rows / 1e6
if num("push_ssh_bytes") is not None:
    # over SSH dbgit sends a thin pack (deltas against what the remote
    # has); a local path remote gets libgit2's pack of whole objects
    target("nightly push over SSH (bytes sent for night %d)" % nights,
           "%s in %s (the remote stored %s)" % (mb(num("push_ssh_bytes")), secs(num("push.ssh.s")),
                                             mb(num("push_ssh_stored"))),
           "the rows that changed: %s as `sqldiff` text" % mb(num("changed_text_bytes")),
           ratio(num("push_ssh_bytes"), push_limit), 1.0, "<= %s" % mb(push_limit))
    target("nightly push to a local path remote (pack received)", "%s in %s" % (mb(num("push_bytes")), secs(num("push.s"))),
           "", None, None, "(no target)")
else:
    target("nightly push (pack received for night %d, local remote)" % nights,
           "%s in %s" % (mb(num("push_bytes")), secs(num("push.s"))),
           "the rows that changed: %s as `sqldiff` text" % mb(num("changed_text_bytes")),
           ratio(num("push_bytes"), push_limit), 1.0, "<= %s" % mb(push_limit))
target("`dbgit diff` of the two last nights", "%s, %s" % (secs(num("dbgit.diff.s")), mib(num("dbgit.diff.rss"))),
       "`sqldiff` of the two databases %s, %s" % (secs(num("sqldiff.s")), mib(num("sqldiff.rss"))),
       ratio(num("dbgit.diff.s"), num("sqldiff.s")), 1.0, "<= 1.0, <= 64 MiB")
targets[-1]["met"] = targets[-1]["met"] and num("dbgit.diff.rss") <= 64 * 1024
target("`dbgit diff --stat`", "%s, %s" % (secs(num("dbgit.diffstat.s")), mib(num("dbgit.diffstat.rss"))), "same",
       ratio(num("dbgit.diffstat.s"), num("sqldiff.s")), 1.0)
if "enc" in by:
    e = by["enc"]
    target("encrypted / plain dbgit, nightly (median)", secs(e[2][1]), "plain %s" % secs(d[2][1]),
           ratio(e[2][1], d[2][1]), 0, "(no target)", False)
    targets[-1]["met"] = None
    target("encrypted / plain dbgit, repository", mb(e[3]), "plain %s" % mb(d[3]), ratio(e[3], d[3]), 0,
           "(no target)", False)
    targets[-1]["met"] = None
if num("ssh.push.s") is not None:
    target("end to end over SSH: push of all %d snapshots to a loopback sshd" % int(num("rotate.snapshots_after")),
           "%s, %s, remote %s" % (secs(num("ssh.push.s")), mib(num("ssh.push.rss")), mb(num("ssh.remote"))),
           "`git clone --mirror` of it %s; `dbgit restore` from the clone %s, %s" % (
               secs(num("ssh.clone.s")), secs(num("ssh.restore.s")), mib(num("ssh.restore.rss"))),
           None, 0, "(figures)")

doc = {"raw": raw, "tools": [{"tool": t[0], "label": t[1], "first_s": t[2][0], "nightly_median_s": t[2][1],
                              "peak_rss_kib": t[2][2], "repository_bytes": t[3], "restore_s": t[4],
                              "restore_rss_kib": t[5]} for t in tools],
       "targets": targets}
if sys.argv[2] == "1":
    json.dump(doc, sys.stdout, indent=1)
    print()
    sys.exit(0)

print("%s rows (%s file, %s SQL dump), %d nights of %s%% %s churn; %s  " % (
    format(int(rows), ","), mb(num("db_bytes")), mb(num("dump_bytes")), nights, raw["pct"], raw["churn"], raw.get("dbgit_version", "").replace("_", " ")))
print("machine: %s; load average %s at the start, %s after the nights, %s at the end" % (
    raw["machine"], raw["load_start"], raw["load_nights"], raw["load_end"]))
print()
print("| tool | first | nightly (median) | peak RSS | repository after %d nights | restore latest |" % nights)
print("|---|---|---|---|---|---|")


def cell(text, mine, theirs, tid):
    r = ratio(mine, theirs)
    return text if tid == "dbgit" or r is None else "%s (%.2f)" % (text, r)


for t in tools:
    repo = cell(mb(t[3]), d[3], t[3], t[0])
    if t[0] == "script":
        repo = "%s after `gc --aggressive` (the gc: %.1f s); %s before" % (repo, gc_s, mb(num("script.repo_before_gc")))
    print("| %s | %s | %s | %s | %s | %s |" % (t[1], cell(secs(t[2][0]), d[2][0], t[2][0], t[0]),
                                               cell(secs(t[2][1]), d[2][1], t[2][1], t[0]),
                                               cell(mib(t[2][2]), d[2][2], t[2][2], t[0]), repo,
                                               cell(secs(t[4]), d[4], t[4], t[0])))
print()
print("In brackets: dbgit's figure divided by the tool's (below 1: dbgit is faster, smaller or leaner).")
print()
for tid, steps in (("dbgit", None), ("enc", None), ("script", ("dump", "test", "git"))):
    if tid in by:
        each = [sum(num("%s.%s.n%d.s" % (tid, k, n)) for k in steps) if steps else num("%s.n%d.s" % (tid, n))
                for n in range(1, nights + 1)]
        print("%s, night by night: %s s  " % (by[tid][1].split(":")[0], ", ".join("%.1f" % x for x in each)))
print()
print("| figure | dbgit | reference | ratio | target | met |")
print("|---|---|---|---|---|---|")
for t in targets:
    r = "" if t["ratio"] is None else "%.2f" % t["ratio"]
    met = "" if t["met"] is None else ("yes" if t["met"] else "**no**")
    print("| %s | %s | %s | %s | %s | %s |" % (t["figure"], t["dbgit"], t["reference"], r, t["target"], met))
