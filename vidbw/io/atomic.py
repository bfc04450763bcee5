"""Output paths: the checks before any work starts, and the one atomic writer (`atomic_output`,
`write_atomic`, `write_json_atomic`): a temporary file in the target folder, fsync of the file and
of the folder, rename, and the temporary file removed on any failure. Every file vidbw writes (films,
images, shot lists, LUTs, weights, job state, JSON reports) appears whole or not at all."""

from __future__ import annotations

import errno
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vidbw.errors import OutputError

TEMP_MARKER = ".vidbw-partial"


def check_output_path(output: Path, inputs: tuple[Path, ...], overwrite: bool) -> None:
    """Refuse outputs that would clobber the input, an existing file, or land nowhere."""
    for source in inputs:
        if output.resolve() == source.resolve() or (output.exists() and os.path.samefile(output, source)):
            raise OutputError(f"output path is the input itself; choose another with -o: {output}")
    if output.exists() and output.is_dir():
        raise OutputError(f"output path is a folder: {output}")
    if output.exists() and not overwrite:
        raise OutputError(f"output exists (use `overwrite` to replace it): {output}", mentions=("overwrite",))
    parent = output.parent
    if not parent.exists():
        raise OutputError(f"output folder does not exist: {parent}")
    if not parent.is_dir():
        raise OutputError(f"output folder is not a folder: {parent}")


def temp_path_for(final: Path) -> Path:
    # Hidden, in the target folder (so the rename is atomic), and keeping the suffix the muxer reads.
    return final.parent / f".{final.stem}.{secrets.token_hex(4)}{TEMP_MARKER}{final.suffix}"


@contextmanager
def atomic_output(final: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary path beside `final`; publish it as `final` only if the block succeeds.

    On any exception, Ctrl-C or SystemExit (SIGTERM) the temporary file is removed, so the target
    folder never holds a partial output. The file and the rename are synced to disk before it returns.
    """
    temp = temp_path_for(final)
    try:
        # Creating it now turns an unwritable folder into an error before any decoding work.
        temp.touch(exist_ok=False)
    except OSError as exc:
        raise OutputError(f"cannot write in output folder {final.parent}: {exc.strerror}") from None
    with _published(temp, final, overwrite):
        yield temp


def write_atomic(path: Path, data: bytes | str, overwrite: bool = True) -> Path:
    """Write `data` (text as UTF-8) to `path` through a temporary file: `path` holds either its old
    content or all of the new, never a mix. OSErrors (a full disk) reach the caller unchanged."""
    path = Path(path)
    temp = temp_path_for(path)
    with _published(temp, path, overwrite):
        with open(temp, "xb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def write_json_atomic(path: Path, data, overwrite: bool = True, indent: int | None = 1) -> Path:
    """`data` as JSON, written by `write_atomic` (serialized first: a value JSON cannot hold writes nothing)."""
    return write_atomic(path, json.dumps(data, indent=indent), overwrite)


@contextmanager
def _published(temp: Path, final: Path, overwrite: bool) -> Iterator[None]:
    try:
        yield
        _fsync(temp)
        _publish(temp, final, overwrite)
    finally:
        temp.unlink(missing_ok=True)
    try:  # make the rename itself durable (a reboot right after must not lose it)
        _fsync(final.parent)
    except OSError:
        pass  # some filesystems cannot sync a folder; the file itself is synced


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(temp: Path, final: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp, final)
        return
    try:
        # A hard link fails if `final` appeared meanwhile, so we never clobber a file we did not check.
        os.link(temp, final)
    except FileExistsError:
        raise OutputError(
            f"output appeared while converting (use `overwrite` to replace it): {final}", mentions=("overwrite",)
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise OutputError(f"cannot publish output {final}: {exc.strerror}") from None
        if final.exists():
            raise OutputError(
                f"output appeared while converting (use `overwrite` to replace it): {final}", mentions=("overwrite",)
            ) from None
        os.replace(temp, final)


def describe_os_error(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "disk full"
    return exc.strerror or str(exc)
