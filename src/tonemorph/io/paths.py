"""Output paths: the one guard every command's outputs pass, and atomic (temp + rename) writes.

The rule, for every output of every command (audio, model, report, IR, `.nam`, JSON, HTML):
- an output is never one of the command's inputs (same resolved path, symlink or hard link),
  not even with ``force``;
- two outputs of one command never share a path;
- an existing file is replaced only with ``force``;
- every output location is checked before any work starts (directory exists, is writable).
Files are written to a hidden temp file next to the target, then renamed onto it; temp files
carry the writer's process id so that one left by a killed run is recognised and removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO

from tonemorph.errors import OutputPathError

StrPath = str | os.PathLike[str]

_TEMP_SUFFIX = ".part"
# .NAME.<pid>-<token>.part (this version) or .NAME.<random>.part (earlier versions)
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?:(?P<pid>\d+)-)?(?P<token>[A-Za-z0-9_]+)\.part$")


# Set when the process was asked to stop (SIGTERM). A signal handler's exception can be
# swallowed when it lands inside a C callback (numba's JIT compiler), so writers also poll this.
STOP_REQUESTED = threading.Event()

# Temp files this process created and has not yet committed or removed. A stop can land
# between creating a temp file and the writer's own cleanup taking charge of it (CI saw one
# left after SIGTERM); the CLI removes whatever is still here when it stops.
_LIVE_TEMPS: set[Path] = set()
_LIVE_LOCK = threading.Lock()


def check_stop() -> None:
    """Raise KeyboardInterrupt if a stop was requested (polled by writers and fit loops)."""
    if STOP_REQUESTED.is_set():
        raise KeyboardInterrupt("stop requested")


def stop_handled() -> None:
    """Mark a requested stop as honoured (a learner stopped and will save what it has)."""
    STOP_REQUESTED.clear()


def os_reason(exc: OSError) -> str:
    """A short human reason for an OSError ("no space left on device", "permission denied")."""
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno == errno.EDQUOT:
        return "disk quota exceeded"
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:] if text else type(exc).__name__


def _same_file(a: Path, b: Path) -> bool:
    """True when `a` and `b` name one file: same resolved path, or same inode (links)."""
    try:
        if a.exists() and b.exists() and os.path.samefile(a, b):
            return True
    except OSError:
        pass
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):
        return False


def check_outputs(outputs: Sequence[StrPath], inputs: Iterable[StrPath | None], *,
                  force: bool = False) -> list[Path]:
    """Check every output of one command before work starts; returns them as Paths.

    Temp files that killed runs left beside an output are removed (or named) with a warning.

    Raises:
        OutputPathError: an output is an input (by path, symlink or hard link), two outputs
            share a path, an output is a directory or another non-regular file (a device,
            pipe, socket; even with `force`), exists without `force`, or its directory is
            missing or not writable.
    """
    outs = [Path(o) for o in outputs]
    ins = [Path(i) for i in inputs if i is not None]
    for k, o in enumerate(outs):
        for i in ins:
            if _same_file(o, i):
                raise OutputPathError(
                    f"output {o} would overwrite {i.name}, an input of this command; "
                    "inputs are never overwritten, choose another output path")
        for other in outs[:k]:
            if _same_file(o, other):
                raise OutputPathError(
                    f"two outputs of this command would be written to {o}; give each its "
                    "own path")
        if o.is_dir():
            raise OutputPathError(f"output path {o} is a directory; give a file name")
        if o.exists() and not o.is_file():
            # outputs are written beside and renamed over: with --force a device or pipe
            # (`-o /dev/null`, run as root) would be replaced by a regular file
            raise OutputPathError(
                f"output path {o} is not a regular file (a device, pipe or socket); outputs "
                "are written as new files, give a file name")
        if (o.exists() or o.is_symlink()) and not force:
            raise OutputPathError(
                f"{o} already exists; choose another path, or allow replacing it",
                option="force")
        _check_parent(o)
    for o in outs:
        for note in clean_stale_temp_files(o):
            warnings.warn(note, stacklevel=2)
    return outs


HTML_SUFFIXES = (".html", ".htm")  # a report written as a self-contained web page


def check_suffix(path: StrPath, suffixes: Sequence[str], what: str,
                 option: str | None = None) -> None:
    """Refuse an output whose extension is none of `suffixes` (lower case, with the dot):
    OutputPathError saying the file is `what` and naming `option`, the parameter that set it."""
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise OutputPathError(f"{p.name} should end in {' or '.join(suffixes)} ({what}); name "
                              f"it {p.stem or 'output'}{suffixes[0]}", option=option)


def check_output_path(out: StrPath, inputs: Sequence[StrPath], *, force: bool = False) -> None:
    """`check_outputs` for a single output."""
    check_outputs([out], inputs, force=force)


def _check_parent(path: Path) -> None:
    """Refuse an output whose directory is missing, not a directory, or not writable."""
    parent = path.parent
    if not parent.exists():
        raise OutputPathError(
            f"output directory {parent} does not exist; create it or choose another path")
    if not parent.is_dir():
        raise OutputPathError(f"output directory {parent} is not a directory; choose another "
                              "path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"output directory {parent} is not writable; choose another path")


def _umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    """True when a process with this id exists (or may: permission denied)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def stale_temp_files(path: StrPath) -> tuple[list[Path], list[Path]]:
    """Temp files a killed writer of `path` left: (removable, unknown owner).

    Removable ones carry the id of a process that no longer runs; unknown ones were written
    by an earlier tonemorph version (no process id) and are only named, never removed.
    """
    p = Path(path)
    removable: list[Path] = []
    unknown: list[Path] = []
    try:
        siblings = list(p.parent.iterdir())
    except OSError:
        return removable, unknown
    for f in siblings:
        m = _TEMP_RE.match(f.name)
        if not m or m.group("name") != p.name or not f.is_file():
            continue
        pid = m.group("pid")
        if pid is None:
            unknown.append(f)
        elif int(pid) != os.getpid() and not _pid_alive(int(pid)):
            removable.append(f)
    return removable, unknown


def clean_stale_temp_files(path: StrPath) -> list[str]:
    """Remove temp files of `path` left by killed runs; returns notes (one per file)."""
    removable, unknown = stale_temp_files(path)
    notes = []
    for f in removable:
        with contextlib.suppress(OSError):
            size = f.stat().st_size
            f.unlink()
            notes.append(f"removed {f.name} ({size / 1e6:.1f} MB), left by an interrupted run")
    for f in unknown:
        notes.append(f"{f.name} in {f.parent} looks left by an interrupted run; delete it if "
                     "no other program is writing it")
    return notes


def make_temp(path: StrPath) -> Path:
    """Create an empty hidden temp file next to `path`, with the mode a new file would get."""
    p = Path(path)
    parent = p.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise OutputPathError(
            f"output directory {parent} {what}; create it or choose another output path")
    for _ in range(16):
        tmp = parent / f".{p.name}.{os.getpid()}-{secrets.token_hex(4)}{_TEMP_SUFFIX}"
        # registered before it exists: an interrupt anywhere after the open still finds it
        _track(tmp)
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                _untrack(tmp)  # another writer's file: never removed here
                continue
            except PermissionError as exc:
                raise OutputPathError(
                    f"output directory {parent} is not writable; choose another output path"
                ) from exc
            except OSError as exc:
                raise OutputPathError(
                    f"cannot create a file in {parent} ({os_reason(exc)}); choose another path"
                ) from exc
            os.close(fd)
            with contextlib.suppress(OSError):
                mode = p.stat().st_mode & 0o777 if p.exists() else 0o666 & ~_umask()
                os.chmod(tmp, mode)
        except BaseException:
            # an error or a stop before the caller holds the path: ours to remove
            unlink_quietly(tmp)
            raise
        return tmp
    raise OutputPathError(f"cannot create a temp file in {parent}; choose another path")


def _track(tmp: Path) -> None:
    with _LIVE_LOCK:
        _LIVE_TEMPS.add(tmp)


def _untrack(tmp: Path) -> None:
    with _LIVE_LOCK:
        _LIVE_TEMPS.discard(tmp)


def unlink_quietly(path: StrPath | None) -> None:
    """Remove `path` if it exists, ignoring errors."""
    if path is not None:
        with contextlib.suppress(OSError):
            Path(path).unlink()
        _untrack(Path(path))


def remove_live_temps() -> list[Path]:
    """Remove every temp file this process created and neither committed nor removed.

    Called when a command stops (Ctrl-C, SIGTERM): no writer of this process will finish.
    Returns the files removed.
    """
    with _LIVE_LOCK:
        live = sorted(_LIVE_TEMPS)
        _LIVE_TEMPS.clear()
    removed = []
    for f in live:
        with contextlib.suppress(OSError):
            f.unlink()
            removed.append(f)
    return removed


def commit_temp(tmp: StrPath, path: StrPath, *, overwrite: bool = True) -> None:
    """Move a finished temp file onto `path`; with overwrite=False never replace a file.

    Raises:
        OutputPathError: `path` appeared meanwhile (overwrite=False) or cannot be written.
        KeyboardInterrupt: a stop was requested; the caller removes the temp file.
    """
    check_stop()
    t, p = Path(tmp), Path(path)
    if overwrite:
        try:
            os.replace(t, p)
        except OSError as exc:
            raise OutputPathError(f"cannot write {p} ({os_reason(exc)}); choose another "
                                  "path") from exc
        _untrack(t)
        return
    try:
        os.link(t, p)  # atomic and never replaces: fails if p exists
    except FileExistsError as exc:
        raise OutputPathError(f"{p} already exists; choose another path, or allow "
                              "replacing it", option="force") from exc
    except OSError:
        # file systems without hard links: check, then rename (a small race, no data loss
        # of inputs: inputs were checked before the work started)
        if p.exists() or p.is_symlink():
            raise OutputPathError(f"{p} already exists; choose another path, or allow "
                                  "replacing it", option="force") from None
        try:
            os.replace(t, p)
        except OSError as exc:
            raise OutputPathError(f"cannot write {p} ({os_reason(exc)}); choose another "
                                  "path") from exc
        _untrack(t)
        return
    unlink_quietly(t)


def write_atomic(path: StrPath, write: Callable[[IO[bytes]], None], *,
                 overwrite: bool = True) -> Path:
    """Write a file through `write(fh)` into a temp file, fsync, then move it onto `path`.

    On any exception (Ctrl-C included) the temp file is removed and `path` is untouched.

    Raises:
        OutputPathError: the directory is missing or not writable, the disk is full, or
            `path` exists and overwrite is False.
    """
    p = Path(path)
    if p.is_dir():
        raise OutputPathError(f"output path {p} is a directory; give a file name")
    tmp = make_temp(p)
    committed = False
    try:
        try:
            with open(tmp, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise OutputPathError(f"cannot write {p} ({os_reason(exc)}); choose another "
                                  "path") from exc
        commit_temp(tmp, p, overwrite=overwrite)
        committed = True
    finally:
        if not committed:
            unlink_quietly(tmp)
    return p


def write_text_atomic(path: StrPath, text: str, *, overwrite: bool = True) -> Path:
    """Write UTF-8 text atomically (see `write_atomic`)."""
    data = text.encode("utf-8")
    return write_atomic(path, lambda fh: fh.write(data), overwrite=overwrite)


__all__ = [
    "HTML_SUFFIXES",
    "STOP_REQUESTED",
    "check_output_path",
    "check_stop",
    "check_outputs",
    "check_suffix",
    "clean_stale_temp_files",
    "commit_temp",
    "make_temp",
    "os_reason",
    "remove_live_temps",
    "stale_temp_files",
    "stop_handled",
    "unlink_quietly",
    "write_atomic",
    "write_text_atomic",
]
