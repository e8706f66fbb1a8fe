"""The command line's failure contract: one line and exit 2 on bad input or a file-system
failure, 130 / 143 on SIGINT / SIGTERM, 141 quietly when the reader closes stdout early.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

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


@contextlib.contextmanager
def exit_on_signals(prog: str = "rlxform") -> Iterator[None]:
    """While active, SIGINT / SIGTERM print ``<prog>: interrupted; ...`` and exit 130 / 143.

    The process ends with ``os._exit`` right after the line is flushed: no exception is raised
    into running code (a KeyboardInterrupt inside XLA compilation can crash the interpreter),
    and atomic writes mean no partial file is left under a final name. A watcher thread woken
    through ``signal.set_wakeup_fd`` exits even while the main thread is inside compiled code.
    Only in the main thread; elsewhere a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    once = threading.Lock()
    watched = (signal.SIGINT, signal.SIGTERM)

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

    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)

    def watch() -> None:
        while True:
            data = os.read(read_fd, 1)
            if not data:  # pipe closed: the command finished
                return
            if data[0] in watched:
                exit_now(data[0])

    previous = {sig: signal.signal(sig, lambda signum, frame: exit_now(signum)) for sig in watched}
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    watcher = threading.Thread(target=watch, name="rlxform-signals", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(write_fd)
        watcher.join()
        os.close(read_fd)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def run_guarded(body: Callable[[], int], prog: str = "rlxform") -> int:
    """Run a command with the CLI's failure contract; returns its exit status.

    ValueError (bad input, too much memory) and OSError (disk full, permission denied,
    read-only file system, a path that is a directory) print one line ``<prog>: error: ...`` on
    stderr and return 2; MemoryError likewise; SIGINT / SIGTERM exit 130 / 143 with one line.
    A reader that closes the pipe early (``rlxform schemes | head -1``) ends the command quietly
    with status 141, like a tool killed by SIGPIPE.
    """
    with exit_on_signals(prog):
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
