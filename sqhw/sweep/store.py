"""The sweep's results store: one SQLite file, one row per finished point.

A row is written whole in one transaction by the sweep's parent process (workers only
return results), so a crash or a SIGKILL leaves every row whole or absent; the point's key
is the primary key, so a point is never stored twice. Points in flight are not in the
file: a restarted sweep runs exactly the points whose key is missing (and, with
--retry-failed, those that failed).

Columns: key, sqhw_version, spec, config (JSON: the point's axes), status ('ok' | 'error'),
error (one line), traceback, metrics (JSON: the headline numbers), ptq (JSON: the PTQ
result in results.json's shape), build (JSON: report.json), seconds (JSON: ptq, build,
total), worker (host:pid), started / finished (Unix time), folder (the point's files).

    >>> store = Store(":memory:")
    >>> store.keys()
    set()
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

__all__ = ["SCHEMA_VERSION", "Store", "StoreError", "default_db"]

SCHEMA_VERSION = "1"
_COLUMNS = ("key", "sqhw_version", "spec", "config", "status", "error", "traceback",
            "metrics", "ptq", "build", "seconds", "worker", "started", "finished", "folder")
_JSON = ("config", "metrics", "ptq", "build", "seconds")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sqhw_sweep_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,
    sqhw_version TEXT NOT NULL,
    spec TEXT,
    config TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    error TEXT,
    traceback TEXT,
    metrics TEXT NOT NULL,
    ptq TEXT,
    build TEXT,
    seconds TEXT,
    worker TEXT,
    started REAL,
    finished REAL,
    folder TEXT
);
"""


class StoreError(ValueError):
    """A --db that is not (and cannot become) a sweep store; one line naming the file."""


def default_db(name: str) -> Path:
    """<user data folder>/sweeps/<name>.sqlite (SQHW_DATA_DIR moves the data folder)."""
    root = os.environ.get("SQHW_DATA_DIR")
    if not root:
        import platformdirs

        root = platformdirs.user_data_dir("sqhw", appauthor=False)
    return Path(root, "sweeps", f"{name}.sqlite")


class Store:
    """The SQLite file at `path` (created with its folder when missing, unless `create` is
    False)."""

    def __init__(self, path, create: bool = True):
        self.path = str(path)
        if self.path != ":memory:":
            file = Path(self.path)
            if file.exists() and not file.is_file():
                raise StoreError(f"--db {file}: exists and is not a file")
            if not file.exists():
                if not create:
                    raise StoreError(f"--db {file}: no such file (run `sqhw sweep SPEC --db "
                                     f"{file}` first)")
                try:
                    file.parent.mkdir(parents=True, exist_ok=True)
                except OSError as err:
                    raise StoreError(f"--db {file}: cannot create its folder: "
                                     f"{err.strerror}") from None
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._init(create)
        except sqlite3.OperationalError as err:  # unreadable, unwritable, locked too long
            raise StoreError(f"--db {self.path}: cannot be opened ({err})") from None
        except sqlite3.DatabaseError as err:
            raise StoreError(f"--db {self.path}: not an sqhw sweep database ({err})") from None

    def _init(self, create: bool) -> None:
        tables = {r[0] for r in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "points" in tables and "sqhw_sweep_meta" not in tables:
            raise StoreError(f"--db {self.path}: an SQLite file with a `points` table sqhw "
                             "did not write")
        if "sqhw_sweep_meta" in tables:
            row = self.db.execute("SELECT value FROM sqhw_sweep_meta WHERE name = 'schema'"
                                  ).fetchone()
            if row is None or row[0] != SCHEMA_VERSION:
                raise StoreError(f"--db {self.path}: store schema {row and row[0]}, this sqhw "
                                 f"reads schema {SCHEMA_VERSION}")
            return
        if tables and not create:
            raise StoreError(f"--db {self.path}: an SQLite file that is no sqhw sweep store "
                             f"(tables: {', '.join(sorted(tables))})")
        if tables:
            raise StoreError(f"--db {self.path}: an SQLite file that is no sqhw sweep store "
                             f"(tables: {', '.join(sorted(tables))}); give a new file")
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            self.db.execute("INSERT INTO sqhw_sweep_meta VALUES ('schema', ?)",
                            (SCHEMA_VERSION,))

    def _transaction(self):
        store = self

        class _Transaction:
            def __enter__(self):
                store.db.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind, value, tb):
                store.db.execute("COMMIT" if kind is None else "ROLLBACK")

        return _Transaction()

    def close(self) -> None:
        self.db.close()

    def keys(self, status: str | None = None) -> set[str]:
        """Keys of the stored points (of one status: 'ok' or 'error')."""
        if status is None:
            return {r[0] for r in self.db.execute("SELECT key FROM points")}
        return {r[0] for r in self.db.execute("SELECT key FROM points WHERE status = ?",
                                              (status,))}

    def record(self, row: dict) -> None:
        """Store one finished point (replacing a failed one of the same key), in one
        transaction."""
        values = [json.dumps(row.get(c)) if c in _JSON else row.get(c) for c in _COLUMNS]
        with self._transaction():
            previous = self.db.execute("SELECT status FROM points WHERE key = ?",
                                       (row["key"],)).fetchone()
            if previous is not None and previous[0] == "ok":
                return  # an ok point is final; never stored twice
            self.db.execute(f"INSERT OR REPLACE INTO points ({', '.join(_COLUMNS)}) VALUES "
                            f"({', '.join('?' * len(_COLUMNS))})", values)

    def rows(self) -> list[dict]:
        """Every stored point, in the order they finished."""
        cursor = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM points "
                                 "ORDER BY finished, key")
        return [{c: (json.loads(v) if c in _JSON and v is not None else v)
                 for c, v in zip(_COLUMNS, r)} for r in cursor]

    def ptq_results(self) -> list[dict]:
        """The PTQ rows of the stored points, as `sqhw ptq`'s results.json: one dict
        {model, metric, fp32, sqhw_version, rows} per model, each row once."""
        results: dict[str, dict] = {}
        seen: dict[str, set] = {}
        for row in self.rows():
            ptq = row["ptq"]
            if not ptq:
                continue
            result = results.setdefault(ptq["model"], {**ptq, "rows": []})
            for r in ptq["rows"]:
                text = json.dumps({k: v for k, v in r.items() if k != "seconds"},
                                  sort_keys=True)
                if text not in seen.setdefault(ptq["model"], set()):
                    seen[ptq["model"]].add(text)
                    result["rows"].append(r)
        return list(results.values())

    def ptq_rows(self) -> list[dict]:
        """Every PTQ row once, in study.py's row shape plus `model`, `metric` and `fp32`."""
        return [{"model": res["model"], "metric": res["metric"], "fp32": res["fp32"], **r}
                for res in self.ptq_results() for r in res["rows"]]

    def build_reports(self) -> list[dict]:
        """The build report (report.json's content) of every stored point that built."""
        return [row["build"] for row in self.rows() if row["build"]]
