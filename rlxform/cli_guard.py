"""The command line's failure contract: one line and exit 2 on bad input or a file-system
failure, 130 / 143 on SIGINT / SIGTERM, 141 quietly when the reader closes stdout early.

Stdlib only: ``rlxform/__init__`` imports this module before anything else, and importing it in
the ``rlxform`` command's process (``launched_as_cli``) installs the signal guard at once, before
NumPy or JAX load; imported from Python it changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence

EXIT_BAD_INPUT = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool killed by a closed pipe
INTERRUPTED = "interrupted; finished chunks are kept, rerun the same command to resume"


def os_error_message(err: OSError) -> str:
    """One line naming the path and the cause of a file-system failure."""
    cause = err.strerror or type(err).__name__
    path = err.filename if err.filename is not None else None
    where = f"cannot use {os.fspath(path)!r}: " if path is not None else ""
    return (
        f"{where}{cause} ({type(err).__name__}, errno {err.errno}); finished chunks are kept: "
        "fix the path or free space, then rerun the same command to resume"
    )


WATCHED = (signal.SIGINT, signal.SIGTERM)
_process_guard: list[str] = []  # the prog of the process-wide guard, once installed


def _exit_now_factory(prog: str) -> Callable[[int], None]:
    once = threading.Lock()

    def exit_now(signum: int) -> None:
        if not once.acquire(blocking=False):
            while True:  # the other path is exiting the process
                time.sleep(1)
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        lead = "\n" if sys.stderr.isatty() else ""  # end a progress bar's line first
        with contextlib.suppress(Exception):
            os.write(2, f"{lead}{prog}: {INTERRUPTED}\n".encode())
        os._exit(128 + signum)

    return exit_now


def _install(prog: str) -> Callable[[], None]:
    """SIGINT / SIGTERM handlers and a wakeup-fd watcher thread; returns the undo function."""
    exit_now = _exit_now_factory(prog)
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)

    def watch() -> None:
        while True:
            try:
                data = os.read(read_fd, 1)
            except OSError:
                return
            if not data:  # pipe closed: the command finished
                return
            if data[0] in WATCHED:
                exit_now(data[0])

    previous = {sig: signal.signal(sig, lambda signum, frame: exit_now(signum)) for sig in WATCHED}
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    watcher = threading.Thread(target=watch, name="rlxform-signals", daemon=True)
    watcher.start()

    def undo() -> None:
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(write_fd)
        watcher.join()
        os.close(read_fd)

    return undo


def install_signal_exit(prog: str = "rlxform") -> bool:
    """From now until the process ends, SIGINT / SIGTERM print one line and exit 130 / 143.

    Idempotent; only in the main thread (elsewhere it does nothing and returns False). The
    command line calls it before its first heavy import (``guard_cli_launch``), so a Ctrl-C
    while NumPy or JAX is still importing is answered like one during a run.
    """
    if _process_guard:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    _install(prog)
    _process_guard.append(prog)
    return True


def launched_as_cli(argv: Sequence[str] | None = None) -> bool:
    """Whether this process is the ``rlxform`` command: the console script, or ``python -m
    rlxform`` (while ``-m`` locates the module, Python holds ``sys.argv[0] == "-m"``)."""
    argv = getattr(sys, "argv", None) if argv is None else argv
    if not argv:
        return False
    first = os.path.basename(str(argv[0]))
    return first == "-m" or first.removesuffix(".exe") == "rlxform"


def guard_cli_launch() -> bool:
    """``install_signal_exit()`` when this process is the command line (``launched_as_cli``);
    a no-op when rlxform is imported from Python. Called first thing by ``rlxform/__init__``:
    stdlib only, so the guard is in place before NumPy and JAX import."""
    return launched_as_cli() and install_signal_exit()


@contextlib.contextmanager
def exit_on_signals(prog: str = "rlxform") -> Iterator[None]:
    """While active, SIGINT / SIGTERM print ``<prog>: interrupted; ...`` and exit 130 / 143.

    The process ends with ``os._exit`` right after the line is flushed: no exception is raised
    into running code (a KeyboardInterrupt inside XLA compilation can crash the interpreter),
    and atomic writes mean no partial file is left under a final name. A watcher thread woken
    through ``signal.set_wakeup_fd`` exits even while the main thread is inside compiled code.
    Only in the main thread; elsewhere, and where the process-wide guard
    (``install_signal_exit``) is already in place, a no-op.
    """
    if _process_guard or threading.current_thread() is not threading.main_thread():
        yield
        return
    undo = _install(prog)
    try:
        yield
    finally:
        undo()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextlib.contextmanager
def one_line_warnings(prog: str = "rlxform") -> Iterator[None]:
    """While active, a shown warning is one line: ``<prog>: warning: <message>``."""

    def format_warning(message, category, filename, lineno, line=None) -> str:
        return f"{prog}: warning: {' '.join(str(message).split())}\n"

    previous = warnings.formatwarning
    warnings.formatwarning = format_warning
    try:
        yield
    finally:
        warnings.formatwarning = previous


def run_guarded(body: Callable[[], int], prog: str = "rlxform") -> int:
    """Run a command with the CLI's failure contract; returns its exit status.

    ValueError (bad input, too much memory) and OSError (disk full, permission denied,
    read-only file system, a path that is a directory) print one line ``<prog>: error: ...`` on
    stderr and return 2; MemoryError likewise; SIGINT / SIGTERM exit 130 / 143 with one line.
    A reader that closes the pipe early (``rlxform schemes | head -1``) ends the command quietly
    with status 141, like a tool killed by SIGPIPE. Python warnings shown meanwhile are one line
    each, ``<prog>: warning: ...`` (a resume on other devices, results of another version).
    """
    with exit_on_signals(prog), one_line_warnings(prog):
        try:
            status = body()
            sys.stdout.flush()  # a closed pipe surfaces here, not at interpreter exit
            return status
        except BrokenPipeError:
            _silence_stdout()
            return EXIT_BROKEN_PIPE
        except ValueError as err:
            message = str(err)
        except OSError as err:
            message = os_error_message(err)
        except MemoryError:
            message = (
                "out of memory; make the run smaller (or raise RLXFORM_MEMORY_BUDGET only "
                "where the memory exists); finished chunks are kept"
            )
    print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_BAD_INPUT


guard_cli_launch()  # the `rlxform` command only (see the module docstring)
