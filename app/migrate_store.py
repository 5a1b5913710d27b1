"""`python -m app migrate-store`: copy the embedded store of `DATA_DIR` into `DATABASE_URL`.

The copy itself is `services.store.migrate_store`; this module opens the two stores from the
settings, shows the progress (a bar on a terminal, a few plain lines otherwise, on stderr),
prints the counts of both stores at the end (stdout), and turns every failure into one line.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from app.composition import open_postgres
from app.settings import Settings
from services.health import HEARTBEAT_FILE, read_health
from services.privacy.encryption import EncryptionKeyError, cipher_for
from services.store import SqliteStore, StoreFileError
from services.store.legacy_data_dir import holds_legacy_data
from services.store.migrate_store import MigrationReport, migrate_store
from services.store.postgres import StoreSchemaError, StoreUnavailableError, migrate
from services.store.sqlite import DATABASE_FILE

PLAIN_STEPS = 10  # without a terminal: a line at every tenth of the way
BAR_WIDTH = 30
REDRAW_SECONDS = 0.1
AGAIN = "run `python -m app migrate-store` again to carry on where it stopped"


class ProgressDisplay:
    """The copy's progress on `stream`: a bar redrawn in place on a terminal, otherwise a
    line each time another tenth of the messages is in."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._began = time.monotonic()
        self._first: int | None = None  # done when the copy started (a resumed copy: > 0)
        self._drawn = 0.0
        self._step = -1
        self._open_line = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self._first is None:
            self._first, self._began = done, now
            if done:
                self._print(f"resuming: {done:,} of {total:,} messages were already copied")
        if self._tty:
            if now - self._drawn >= REDRAW_SECONDS or done >= total:
                self._drawn = now
                self._draw(done, total, now)
            return
        step = PLAIN_STEPS if total == 0 else done * PLAIN_STEPS // total
        if step > self._step:
            self._step = step
            if done > self._first or done == total:
                self._print(f"copied {done:,} of {total:,} messages ({_percent(done, total)})")

    def _draw(self, done: int, total: int, now: float) -> None:
        filled = BAR_WIDTH if total == 0 else BAR_WIDTH * done // total
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        rate = (done - (self._first or 0)) / max(now - self._began, 1e-9)
        left = f", {(total - done) / rate:.0f} s left" if rate > 0 and done < total else ""
        self._stream.write(
            f"\rmessages [{bar}] {_percent(done, total):>4} {done:,}/{total:,} "
            f"({rate:,.0f}/s{left})\x1b[K"
        )
        self._stream.flush()
        self._open_line = True

    def _print(self, line: str) -> None:
        self.finish()
        print(line, file=self._stream, flush=True)

    def finish(self) -> None:
        """End the bar's line, if one is open."""
        if self._open_line:
            self._stream.write("\n")
            self._stream.flush()
            self._open_line = False


def _percent(done: int, total: int) -> str:
    return "100%" if total == 0 else f"{100 * done // total}%"


def _fail(line: str) -> int:
    print(line, file=sys.stderr)
    return 1


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _source_problem(settings: Settings) -> str | None:
    data_dir = settings.data_dir
    if not data_dir.is_dir():
        return f"DATA_DIR {data_dir} does not exist: there is no embedded store to copy."
    if not (data_dir / DATABASE_FILE).exists() and not holds_legacy_data(data_dir):
        return f"DATA_DIR {data_dir} holds no embedded store (no {DATABASE_FILE})."
    if read_health(data_dir / HEARTBEAT_FILE).ok:
        return (
            f"The bot is running on DATA_DIR {data_dir} (its heartbeat is fresh): stop it "
            "before copying its store."
        )
    return None


async def run_migrate_store(settings: Settings, *, batch: int) -> int:
    if not settings.database_url:
        return _fail("DATABASE_URL is not set: it names the PostgreSQL database to copy into.")
    problem = _source_problem(settings)
    if problem is not None:
        return _fail(problem)
    try:
        cipher = cipher_for(settings.data_dir, settings.store_encryption_key.reveal())
    except EncryptionKeyError as error:
        return _fail(str(error))
    except (OSError, ValueError) as error:
        return _fail(f"DATA_DIR {settings.data_dir} is not readable: {_one_line(error)}.")
    try:
        # Unreachable: said at once (the bot's open would try for 30 s, as it does at start).
        await migrate(settings.database_url.reveal())
        target = await open_postgres(settings)
    except (StoreUnavailableError, StoreSchemaError, EncryptionKeyError) as error:
        return _fail(str(error))
    # An older release's files are imported into the SQLite file first, as the bot would.
    source = SqliteStore(settings.data_dir, cipher=cipher)
    try:
        await source.open()
    except StoreFileError as error:
        await source.close()
        await target.close()
        return _fail(str(error))
    display = ProgressDisplay(sys.stderr)
    try:
        report = await migrate_store(
            source,
            target,
            name=str(settings.data_dir.resolve()),
            batch=batch,
            progress=display,
            same_key=cipher is not None,  # STORE_ENCRYPTION_KEY opens one and seals the other
        )
    except StoreUnavailableError as error:
        display.finish()
        return _fail(f"{error} Nothing copied is lost: {AGAIN}.")
    except OSError as error:
        display.finish()
        return _fail(f"DATA_DIR {settings.data_dir} could not be read: {_one_line(error)}.")
    except Exception as error:
        display.finish()
        return _fail(f"The copy stopped ({_one_line(error)}): {AGAIN}.")
    finally:
        for close in (source.close, target.close):
            try:
                await close()
            except Exception as error:
                print(f"While closing a store: {_one_line(error)}.", file=sys.stderr)
    display.finish()
    return _report(report, settings)


def _report(report: MigrationReport, settings: Settings) -> int:
    rate = report.copied / report.seconds if report.seconds > 0 else 0.0
    resumed = f", {report.resumed:,} copied by an earlier run" if report.resumed else ""
    print(
        f"Copied DATA_DIR {settings.data_dir} into PostgreSQL (DATABASE_URL): "
        f"{report.copied:,} messages in {report.seconds:.1f} s ({rate:,.0f}/s){resumed}."
    )
    rows = list(zip(report.source.rows(), report.target.rows(), strict=True))
    width = max(len(kind) for (kind, _n), _target in rows)
    print(f"{'':<{width}}  {'DATA_DIR':>12}  {'PostgreSQL':>12}")
    for (kind, mine), (_kind, theirs) in rows:
        mark = "" if mine == theirs else "  <- differs"
        print(f"{kind:<{width}}  {mine:>12,}  {theirs:>12,}{mark}")
    if report.matches:
        print("Every count matches.")
        return 0
    differing = "; ".join(
        f"{kind}: {mine:,} in DATA_DIR, {theirs:,} in PostgreSQL"
        for kind, mine, theirs in report.differences()
    )
    return _fail(f"The counts differ ({differing}): was the database empty, and the bot stopped?")
