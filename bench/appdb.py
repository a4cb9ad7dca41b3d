#!/usr/bin/env python3
"""appdb.py: the benchmark's database, a small web shop's SQLite file.

  appdb.py create DB ROWS          a new database of about ROWS rows in all
  appdb.py churn DB NIGHT MODE PCT one day's changes: PCT percent of the rows
                                   updated, inserted or deleted (a third each),
                                   MODE uniform (any row alike) or skewed (most
                                   changes to recent rows, as real apps do)
  appdb.py rows DB                 the number of rows in all tables

Tables, as an app has them: users (JSON settings, a small avatar BLOB on
some), products, orders (JSON metadata), order_items, events (a small BLOB
payload), with foreign keys, UNIQUE constraints and secondary indexes.
Everything is drawn from a seeded generator, so two runs with the same
arguments give the same database, night after night.
"""
import json
import random
import sqlite3
import sys

SCHEMA = """
PRAGMA foreign_keys = ON;
CREATE TABLE users(
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_login TEXT,
    settings TEXT NOT NULL CHECK (json_valid(settings)),
    avatar BLOB
);
CREATE TABLE products(
    id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    attrs TEXT NOT NULL
);
CREATE TABLE orders(
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    meta TEXT NOT NULL
);
CREATE INDEX orders_user ON orders(user_id);
CREATE INDEX orders_created ON orders(created_at);
CREATE TABLE order_items(
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products(id),
    qty INTEGER NOT NULL,
    price_cents INTEGER NOT NULL
);
CREATE INDEX order_items_order ON order_items(order_id);
CREATE TABLE events(
    id INTEGER PRIMARY KEY,
    user_id INTEGER REFERENCES users(id),
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    payload BLOB
);
CREATE INDEX events_user_at ON events(user_id, at);
"""

# Shares of the rows, per table (sum 1.0).
SHARE = {"users": 0.08, "products": 0.01, "orders": 0.25, "order_items": 0.46, "events": 0.20}
STATUSES = ["new", "paid", "shipped", "delivered", "refunded"]
KINDS = ["login", "view", "cart", "checkout", "logout", "search"]
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
         "mike november oscar papa quebec romeo sierra tango uniform victor").split()
EPOCH = 1767225600  # 2026-01-01


def day(t):
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def user_row(r, i):
    settings = {"theme": r.choice(["light", "dark"]), "lang": r.choice(["en", "de", "fr", "es"]),
                "notify": {"email": r.random() < 0.7, "sms": r.random() < 0.2},
                "tags": r.sample(WORDS, 2)}
    avatar = r.randbytes(r.randrange(64, 512)) if r.random() < 0.3 else None
    return (i, "user%d@example.org" % i, "%s %s" % (r.choice(WORDS).title(), r.choice(WORDS).title()),
            day(EPOCH + i * 60), None, json.dumps(settings, separators=(",", ":")), avatar)


def product_row(r, i):
    return (i, "SKU-%07d" % i, " ".join(r.sample(WORDS, 3)), r.randrange(100, 100000),
            json.dumps({"color": r.choice(WORDS), "weight_g": r.randrange(10, 5000)}))


def order_row(r, i, users, t):
    meta = {"ip": "10.%d.%d.%d" % (r.randrange(256), r.randrange(256), r.randrange(256)),
            "coupon": r.choice([None, None, None, "SPRING10", "VIP"]), "items": r.randrange(1, 5)}
    return (i, r.randrange(1, users + 1), day(t), r.choice(STATUSES), r.randrange(500, 50000),
            json.dumps(meta, separators=(",", ":")))


def item_row(r, i, orders, products):
    return (i, r.randrange(1, orders + 1), r.randrange(1, products + 1), r.randrange(1, 4), r.randrange(100, 20000))


def event_row(r, i, users, t):
    return (i, r.randrange(1, users + 1), t + r.random(), r.choice(KINDS), r.randbytes(r.randrange(16, 96)))


def counts(rows):
    return {t: max(1, int(rows * s)) for t, s in SHARE.items()}


def create(path, rows):
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(SCHEMA)
    r = random.Random(7)
    n = counts(rows)
    span = 300 * 86400
    db.execute("BEGIN")
    db.executemany("INSERT INTO users VALUES(?,?,?,?,?,?,?)", (user_row(r, i) for i in range(1, n["users"] + 1)))
    db.executemany("INSERT INTO products VALUES(?,?,?,?,?)", (product_row(r, i) for i in range(1, n["products"] + 1)))
    db.executemany("INSERT INTO orders VALUES(?,?,?,?,?,?)",
                   (order_row(r, i, n["users"], EPOCH + span * i // n["orders"]) for i in range(1, n["orders"] + 1)))
    # Items point at orders in id order, as an app writes them.
    db.executemany("INSERT INTO order_items VALUES(?,?,?,?,?)",
                   ((i, max(1, i * n["orders"] // n["order_items"]), r.randrange(1, n["products"] + 1),
                     r.randrange(1, 4), r.randrange(100, 20000)) for i in range(1, n["order_items"] + 1)))
    db.executemany("INSERT INTO events VALUES(?,?,?,?,?)",
                   (event_row(r, i, n["users"], EPOCH + span * i // n["events"]) for i in range(1, n["events"] + 1)))
    db.execute("COMMIT")
    db.close()


def pick(r, lo, hi, mode):
    """A row id in [lo, hi]: any alike, or (skewed) 90% among the newest 5%."""
    if mode == "skewed" and r.random() < 0.9:
        return r.randint(max(lo, hi - (hi - lo) // 20), hi)
    return r.randint(lo, hi)


def churn(path, night, mode, pct):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    r = random.Random(1000 + night)
    total = sum(db.execute("SELECT count(*) FROM %s" % t).fetchone()[0] for t in SHARE)
    k = max(3, int(total * pct / 100.0)) // 3
    bounds = {t: db.execute("SELECT min(id), max(id) FROM %s" % t).fetchone() for t in SHARE}
    users = bounds["users"][1]
    products = bounds["products"][1]
    now = EPOCH + (300 + night) * 86400
    db.execute("BEGIN")
    # Updates (a third): orders change status, users log in and change
    # settings, items change quantity, products change price.
    for _ in range(k):
        x = r.random()
        if x < 0.45:
            lo, hi = bounds["orders"]
            db.execute("UPDATE orders SET status = ?, total_cents = total_cents + ? WHERE id = ?",
                       (r.choice(STATUSES), r.randrange(-100, 100), pick(r, lo, hi, mode)))
        elif x < 0.75:
            lo, hi = bounds["users"]
            u = user_row(r, pick(r, lo, hi, mode))
            db.execute("UPDATE users SET last_login = ?, settings = ? WHERE id = ?", (day(now), u[5], u[0]))
        elif x < 0.97:
            lo, hi = bounds["order_items"]
            db.execute("UPDATE order_items SET qty = ? WHERE id = ?", (r.randrange(1, 6), pick(r, lo, hi, mode)))
        else:
            lo, hi = bounds["products"]
            db.execute("UPDATE products SET price_cents = ? WHERE id = ?", (r.randrange(100, 100000), r.randint(lo, hi)))
    # Inserts (a third): new orders with their items, new events, new users.
    oid = bounds["orders"][1]
    iid = bounds["order_items"][1]
    eid = bounds["events"][1]
    uid = users
    done = 0
    while done < k:
        x = r.random()
        if x < 0.05:
            uid += 1
            db.execute("INSERT INTO users VALUES(?,?,?,?,?,?,?)", user_row(r, uid))
            done += 1
        elif x < 0.55:
            oid += 1
            db.execute("INSERT INTO orders VALUES(?,?,?,?,?,?)", order_row(r, oid, uid, now))
            for _ in range(2):
                iid += 1
                db.execute("INSERT INTO order_items VALUES(?,?,?,?,?)",
                           (iid, oid, r.randrange(1, products + 1), r.randrange(1, 4), r.randrange(100, 20000)))
            done += 3
        else:
            eid += 1
            db.execute("INSERT INTO events VALUES(?,?,?,?,?)", event_row(r, eid, uid, now))
            done += 1
    # Deletes (a third): old events expire, items leave orders, orders are
    # cancelled (their items go with them: ON DELETE CASCADE).
    done = 0
    while done < k:
        x = r.random()
        if x < 0.5:
            lo, hi = bounds["events"]
            done += db.execute("DELETE FROM events WHERE id = ?", (pick(r, lo, hi, mode),)).rowcount
        elif x < 0.9:
            lo, hi = bounds["order_items"]
            done += db.execute("DELETE FROM order_items WHERE id = ?", (pick(r, lo, hi, mode),)).rowcount
        else:
            lo, hi = bounds["orders"]
            o = pick(r, lo, hi, mode)
            gone = db.execute("DELETE FROM order_items WHERE order_id = ?", (o,)).rowcount
            gone += db.execute("DELETE FROM orders WHERE id = ?", (o,)).rowcount
            done += max(1, gone)
    db.execute("COMMIT")
    db.close()


def rows(path):
    db = sqlite3.connect(path)
    print(sum(db.execute("SELECT count(*) FROM %s" % t).fetchone()[0] for t in SHARE))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "create" and len(sys.argv) == 4:
        create(sys.argv[2], int(sys.argv[3]))
    elif cmd == "churn" and len(sys.argv) == 6:
        churn(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
    elif cmd == "rows" and len(sys.argv) == 3:
        rows(sys.argv[2])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)
