#!/usr/bin/env python3
"""mongo-standin.py: stand-ins for mongodump, mongorestore and mongosh, for
the tests of engine = "mongodb" (t52xx) on a machine without MongoDB.

The "server" is a folder, $MONGO_FAKE/data/<db>/<coll>.bson and
<coll>.metadata.json, as mongodump lays a database out. Each stand-in
checks the process contract dbgit promises and fails loudly otherwise:
  - no password in its own argv, nor in any process's /proc/PID/cmdline
    while it runs;
  - --config FILE (the tools) or the request script (mongosh) is mode 0600
    and yields the password ($MONGO_FAKE/password) the way the real tool
    would read it (YAML `password: "..."`, read as JSON);
  - mongodump: --quiet, --db, --out; mongorestore: --drop, --dir,
    --nsInclude=DB.* and parseable .bson files.
Every call is logged to $MONGO_FAKE/log (argv as JSON, one line a call).
Behaviour switches, files in $MONGO_FAKE: fail-<tool> (its content is the
error line, exit 1), reverse (mongodump writes documents in reverse
order), lose-doc (mongorestore drops each collection's last document),
hang-mongorestore (it writes its pid to $MONGO_FAKE/restoring once it has
restored, then sleeps: a run to kill).

Also a library for the tests: `mongo-standin.py bson OUT.bson < docs.py`
writes the documents of a Python literal list as BSON (a tiny encoder), and
`mongo-standin.py docs FILE.bson` prints each document's bytes in hex,
sorted (to compare two collections as sets).
"""
import json
import os
import shutil
import struct
import sys

FAKE = os.environ.get("MONGO_FAKE", "")


def die(msg, code=1):
    sys.stderr.write(msg + "\n")
    sys.exit(code)


def log(tool, argv):
    os.makedirs(os.path.join(FAKE, "log"), exist_ok=True)
    with open(os.path.join(FAKE, "log", tool), "a") as f:
        f.write(json.dumps(argv) + "\n")


def password():
    with open(os.path.join(FAKE, "password")) as f:
        return f.read().strip("\n")


def check_cmdlines(argv):
    pw = password().encode()
    for a in argv:
        if pw in a.encode():
            die("standin: the password is on my command line", 90)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if pw in f.read():
                    die("standin: the password is on the command line of process %s" % pid, 91)
        except OSError:
            pass
    with open(os.path.join(FAKE, "log", "cmdlines-checked"), "a") as f:
        f.write("ok\n")


def check_private(path, what):
    st = os.stat(path)
    if st.st_mode & 0o077:
        die("standin: %s %s has mode %o" % (what, path, st.st_mode & 0o777), 92)


def config_password(path):
    check_private(path, "--config")
    with open(path) as f:
        text = f.read()
    if not text.startswith("password: ") or text.count("\n") != 1:
        die("standin: --config is not one `password:` line", 93)
    return json.loads(text[len("password: "):])


def opts(argv):
    o = {}
    for a in argv:
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            o.setdefault(k, []).append(v)
        elif a.startswith("--"):
            o.setdefault(a[2:], []).append(True)
    return o


def split_bson(data):
    docs, i = [], 0
    while i < len(data):
        if len(data) - i < 5:
            die("standin: truncated BSON", 94)
        n = struct.unpack_from("<i", data, i)[0]
        if n < 5 or i + n > len(data) or data[i + n - 1] != 0:
            die("standin: broken BSON document at byte %d" % i, 94)
        docs.append(data[i:i + n])
        i += n
    return docs


def tool_common(tool, argv):
    log(tool, argv)
    o = opts(argv)
    check_cmdlines(argv)
    if "config" in o and config_password(o["config"][0]) != password():
        die("Failed: (AuthenticationFailed) Authentication failed.")
    fail = os.path.join(FAKE, "fail-" + tool)
    if os.path.exists(fail):
        with open(fail) as f:
            die(f.read().strip("\n"))
    return o


def mongodump(argv):
    o = tool_common("mongodump", argv)
    if "quiet" not in o or "db" not in o or "out" not in o:
        die("standin: mongodump wants --quiet --db --out", 95)
    db, out = o["db"][0], o["out"][0]
    src = os.path.join(FAKE, "data", db)
    dst = os.path.join(out, db)
    os.makedirs(dst, exist_ok=True)
    skip = set(o.get("excludeCollection", []))
    if not os.path.isdir(src):
        return
    for name in sorted(os.listdir(src)):
        coll = name[:-5] if name.endswith(".bson") else name[:-len(".metadata.json")]
        if coll in skip:
            continue
        if name.endswith(".bson") and os.path.exists(os.path.join(FAKE, "reverse")):
            with open(os.path.join(src, name), "rb") as f:
                docs = split_bson(f.read())
            with open(os.path.join(dst, name), "wb") as f:
                f.write(b"".join(reversed(docs)))
        else:
            shutil.copy(os.path.join(src, name), os.path.join(dst, name))


def mongorestore(argv):
    o = tool_common("mongorestore", argv)
    for k in ("quiet", "drop", "dir", "nsInclude"):
        if k not in o:
            die("standin: mongorestore wants --%s" % k, 95)
    ns = o["nsInclude"][0]
    if not ns.endswith(".*"):
        die("standin: --nsInclude=DB.* expected", 95)
    db = ns[:-2]
    src = os.path.join(o["dir"][0], db)
    dst = os.path.join(FAKE, "data", db)
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        if name.endswith(".bson"):
            with open(path, "rb") as f:
                docs = split_bson(f.read())
            if os.path.exists(os.path.join(FAKE, "lose-doc")) and docs:
                docs = docs[:-1]
            with open(os.path.join(dst, name), "wb") as f:
                f.write(b"".join(docs))
        elif name.endswith(".metadata.json"):
            with open(path) as f:
                json.load(f)
            shutil.copy(path, os.path.join(dst, name))
        else:
            die("standin: unexpected file %s" % name, 95)
    if os.path.exists(os.path.join(FAKE, "hang-mongorestore")):
        # a run killed while it restores: say where, then wait to be killed
        with open(os.path.join(FAKE, "restoring"), "w") as f:
            f.write("%d\n" % os.getpid())
        import time
        time.sleep(60)


def collections(db):
    d = os.path.join(FAKE, "data", db)
    if not os.path.isdir(d):
        return set()
    return {n[:-5] if n.endswith(".bson") else n[:-len(".metadata.json")] for n in os.listdir(d)}


def mongosh(argv):
    log("mongosh", argv)
    check_cmdlines(argv)
    if argv[:3] != ["--nodb", "--norc", "--quiet"] or len(argv) != 4:
        die("standin: mongosh --nodb --norc --quiet FILE expected", 95)
    check_private(argv[3], "script")
    with open(argv[3]) as f:
        first = f.readline()
    if not first.startswith("const req = ") or not first.endswith(";\n"):
        die("standin: no request line", 95)
    req = json.loads(first[len("const req = "):-2])
    log("mongosh-requests", req)
    if req.get("pwfile") and config_password(req["pwfile"]) != password():
        die("MongoServerError: Authentication failed.")
    fail = os.path.join(FAKE, "fail-mongosh")
    if os.path.exists(fail):
        with open(fail) as f:
            die(f.read().strip("\n"))
    data = os.path.join(FAKE, "data")
    op = req["op"]
    if op in ("ping", "count"):
        print(len(collections(req["db"])))
    elif op == "list":
        for name in sorted(os.listdir(data)):
            if name.startswith(req["db"]):
                print(name)
    elif op == "drop":
        shutil.rmtree(os.path.join(data, req["db"]), ignore_errors=True)
    elif op == "install":
        src, dst = os.path.join(data, req["db"]), os.path.join(data, req["to"])
        keep = collections(req["db"])
        os.makedirs(dst, exist_ok=True)
        for name in os.listdir(src):
            os.replace(os.path.join(src, name), os.path.join(dst, name))
        if req["force"]:
            for c in collections(req["to"]) - keep:
                for ext in (".bson", ".metadata.json"):
                    if os.path.exists(os.path.join(dst, c + ext)):
                        os.remove(os.path.join(dst, c + ext))
        shutil.rmtree(src)
    else:
        die("standin: unknown op %s" % op, 95)


# ---- a tiny BSON encoder for fixtures ----

class OID(bytes):
    pass


class Int64(int):
    pass


class Date(int):
    pass


class Bin(bytes):
    pass


class Dec128(bytes):
    pass


def cstring(s):
    b = s.encode()
    assert b"\0" not in b
    return b + b"\0"


def element(k, v):
    k = cstring(k)
    if v is None:
        return b"\x0a" + k
    if isinstance(v, bool):
        return b"\x08" + k + (b"\x01" if v else b"\x00")
    if isinstance(v, OID):
        return b"\x07" + k + bytes(v)
    if isinstance(v, Bin):
        return b"\x05" + k + struct.pack("<i", len(v)) + b"\x00" + bytes(v)
    if isinstance(v, Dec128):
        return b"\x13" + k + bytes(v)
    if isinstance(v, Date):
        return b"\x09" + k + struct.pack("<q", v)
    if isinstance(v, Int64):
        return b"\x12" + k + struct.pack("<q", v)
    if isinstance(v, int):
        return b"\x10" + k + struct.pack("<i", v)
    if isinstance(v, float):
        return b"\x01" + k + struct.pack("<d", v)
    if isinstance(v, str):
        b = v.encode()
        return b"\x02" + k + struct.pack("<i", len(b) + 1) + b + b"\0"
    if isinstance(v, dict):
        return b"\x03" + k + document(v)
    if isinstance(v, list):
        return b"\x04" + k + document({str(i): x for i, x in enumerate(v)})
    raise TypeError(type(v))


def document(d):
    body = b"".join(element(k, v) for k, v in d.items())
    return struct.pack("<i", len(body) + 5) + body + b"\0"


def main():
    tool = os.path.basename(sys.argv[1])
    argv = sys.argv[2:]
    if tool == "bson":
        env = {"OID": lambda h: OID(bytes.fromhex(h)), "Int64": Int64, "Date": Date, "Bin": Bin,
               "Dec128": lambda h: Dec128(bytes.fromhex(h)), "nan": float("nan"), "inf": float("inf")}
        docs = eval(sys.stdin.read(), env)
        with open(argv[0], "wb") as f:
            f.write(b"".join(document(d) for d in docs))
    elif tool == "docs":
        with open(argv[0], "rb") as f:
            for d in sorted(split_bson(f.read())):
                print(d.hex())
    elif tool == "mongodump":
        mongodump(argv)
    elif tool == "mongorestore":
        mongorestore(argv)
    elif tool == "mongosh":
        mongosh(argv)
    else:
        die("standin: unknown tool %s" % tool, 2)


if __name__ == "__main__":
    main()
