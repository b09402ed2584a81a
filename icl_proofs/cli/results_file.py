"""``verify --json FILE``: opening the results file without losing one (lock, refuse foreign files,
continue with --resume), and ``--json -``, where stdout carries the JSON document alone."""
from __future__ import annotations

import contextlib
import os
import sys

import click

from ..claims.base import UserInputError


@contextlib.contextmanager
def stdout_to_stderr():
    """While stdout is reserved for the JSON document (``--json -``), whatever else would write
    there (a check's ``print``, a worker process) goes to stderr instead."""
    saved = fd = None
    try:
        fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test runner's buffer)
        fd = None
    if fd is not None:
        sys.stdout.flush()
        saved = os.dup(fd)
        os.dup2(err_fd, fd)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            try:
                sys.stderr.flush()
            finally:
                os.dup2(saved, fd)
                os.close(saved)


def open_results(path, run_meta: dict, *, resume: bool, overwrite: bool, quiet: bool, dps: int):
    """The writer of ``--json FILE``, after the checks that keep a file from being lost."""
    from ..export.jsonout import FileLock

    lock = FileLock(path)
    lock.acquire()  # a second run on the same file is refused here, before any work
    try:
        return _results_writer(path, run_meta, lock, resume=resume, overwrite=overwrite, quiet=quiet, dps=dps)
    except BaseException:
        lock.release()
        raise


def _results_writer(path, run_meta: dict, lock, *, resume: bool, overwrite: bool, quiet: bool, dps: int):
    from ..export.jsonout import ResultsFileError, ResultsWriter, check_resumable, read_results

    try:
        doc = read_results(path)
    except ResultsFileError as e:
        if e.kind in ("unreadable", "unwritable", "locked"):
            raise UserInputError(str(e)) from None
        if resume:
            hint = ("; use another file name, or --overwrite without --resume to replace it"
                    if e.kind in ("corrupt", "foreign", "invalid") else "")
            raise UserInputError(f"cannot resume {path}: {e.reason}{hint}") from None
        if e.kind == "newer":  # ours, from a later release: replacing it is what was asked for
            doc = e.doc
        elif overwrite:
            doc = None
        else:
            raise UserInputError(
                f"not overwriting {path}: {e.reason}; use another file name, --resume to continue a "
                f"results file, or --overwrite to replace it") from None
    if resume and doc is not None:
        try:
            check_resumable(path, doc, run_meta)
        except ResultsFileError as e:
            raise UserInputError(f"cannot resume {path}: {e.reason}") from None
        return ResultsWriter.resume(path, doc, run_meta, dps, lock=lock)
    if doc is not None and not quiet:
        results = doc.get("results")
        n = len(results) if isinstance(results, list) else 0
        click.echo(f"overwriting previous results in {path} ({n} claim{'s' if n != 1 else ''})", err=True)
    return ResultsWriter(path, run_meta, dps, lock=lock)
