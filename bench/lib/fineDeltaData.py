"""Seeded files for the fine-grained delta bench: the same seed and size give the same bytes.

  python3 fineDeltaData.py sqlite DIR SEED BYTES   -> DIR/base.db, DIR/updated.db, DIR/vacuumed.db
  python3 fineDeltaData.py tar DIR SEED BYTES      -> DIR/old.tar, DIR/new.tar

Prints one JSON line of facts about what was changed.
"""

import io
import json
import random
import shutil
import sqlite3
import sys
import tarfile

WORDS = (
    "sync chunk object bucket region delta digest nonce secret page block part range copy "
    "upload source destination index segment offset rolling hash archive database row table "
    "vacuum insert update delete commit journal backup replica north south east west alpha "
    "beta gamma kilo mega giga order invoice customer product warehouse shipment ledger"
).split()


def text(rng: random.Random, length: int) -> bytes:
    """Compressible text of exactly `length` bytes."""
    out = " ".join(rng.choices(WORDS, k=length // 5 + 1)).encode()
    return out[:length]


def payload(rng: random.Random, length: int) -> bytes:
    """Half the rows carry text, half random bytes, as real tables mix both."""
    return text(rng, length) if rng.random() < 0.5 else rng.randbytes(length)


def sqlite_files(out: str, seed: str, size: int) -> dict:
    rng = random.Random(f"{seed}-rows")
    base = f"{out}/base.db"
    db = sqlite3.connect(base)
    db.execute(
        "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL, body BLOB NOT NULL)"
    )
    db.execute("CREATE INDEX item_name ON item(name)")
    rows = 0
    while True:
        batch = [
            (rows + i + 1, text(rng, rng.randint(12, 60)).decode(), rng.randint(0, 10**6), payload(rng, rng.randint(64, 2400)))
            for i in range(2000)
        ]
        db.executemany("INSERT INTO item VALUES (?, ?, ?, ?)", batch)
        db.commit()
        rows += len(batch)
        pages, page_size = db.execute("PRAGMA page_count").fetchone()[0], db.execute("PRAGMA page_size").fetchone()[0]
        if pages * page_size >= size:
            break
    db.close()

    # A few rows updated in place, spread over the table: same lengths, so no row moves page.
    updated = f"{out}/updated.db"
    shutil.copyfile(base, updated)
    edit = random.Random(f"{seed}-updates")
    ids = [1 + (i * rows) // 50 + edit.randrange(rows // 100) for i in range(50)]
    db = sqlite3.connect(updated)
    for rid in ids:
        (length,) = db.execute("SELECT length(body) FROM item WHERE id = ?", (rid,)).fetchone()
        db.execute("UPDATE item SET qty = qty + 1, body = ? WHERE id = ?", (edit.randbytes(length), rid))
    db.commit()
    db.close()

    # About 10% of the rows deleted in runs spread over the table, then VACUUM: the pages after
    # each run are rewritten at lower offsets and the index's pages are gathered after the table's.
    vacuumed = f"{out}/vacuumed.db"
    shutil.copyfile(base, vacuumed)
    cut = random.Random(f"{seed}-deletes")
    runs, run_length = 20, rows // 200
    db = sqlite3.connect(vacuumed)
    for i in range(runs):
        start = 1 + (i * rows) // runs + cut.randrange(rows // runs - run_length)
        db.execute("DELETE FROM item WHERE id >= ? AND id < ?", (start, start + run_length))
    db.commit()
    db.execute("VACUUM")
    db.close()
    return {"rows": rows, "updatedRows": len(ids), "deletedRows": runs * run_length}


def tar_files(out: str, seed: str, size: int) -> dict:
    rng = random.Random(f"{seed}-files")
    files = []
    total = 0
    while total < size:
        # Sizes from 200 B to 1 MB, most of them small, as in a source tree or a mail archive.
        length = int(200 * 5000 ** rng.random())
        files.append((f"data/{len(files):06d}.{'txt' if rng.random() < 0.5 else 'bin'}", length))
        total += length + 1024
    inserted = ("data/000000-inserted.txt", 1400)

    def member(tar: tarfile.TarFile, name: str, length: int) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode, info.uname, info.gname = length, 1764633600, 0o644, "bench", "bench"
        body_rng = random.Random(f"{seed}-{name}")
        body = text(body_rng, length) if name.endswith(".txt") else body_rng.randbytes(length)
        tar.addfile(info, io.BytesIO(body))

    for path, extra in ((f"{out}/old.tar", []), (f"{out}/new.tar", [inserted])):
        with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
            for name, length in sorted(extra + files):
                member(tar, name, length)
    return {"files": len(files), "inserted": inserted[1]}


if __name__ == "__main__":
    kind, out, seed, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    facts = sqlite_files(out, seed, size) if kind == "sqlite" else tar_files(out, seed, size)
    print(json.dumps(facts))
