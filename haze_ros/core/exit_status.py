"""SIGINT / SIGTERM handling shared by haze_node and the command-line tools: one exit status per signal.

Why not Python's own ``KeyboardInterrupt``: CPython (seen on 3.11.7, the version of the ROS 2
wheels) sets a global flag (``_Py_UnhandledKeyboardInterrupt``, in ``run_eval_code_obj``) whenever a
*plain* ``KeyboardInterrupt`` leaves code run by ``exec()``/``eval()`` of a string, even when the
program catches it a few frames further out; when the tool runs as ``python -m haze_ros.bags.cli``
(or any ``-m`` module: the tests and ``haze_demo`` start them so) ``Py_RunMain`` then ends the
process with SIGINT (``exit_sigint()``) instead of the status ``main()`` returned. (An installed
console script runs as a file, whose ``SystemExit`` goes through ``Py_Exit`` and skips that check.)
The standard library
runs such code all the time: ``@dataclass`` ``exec()``s every generated method, ``namedtuple``
``eval()``s its ``__new__``. So a Ctrl-C that landed while a module with a dataclass was being
imported (``haze_bag`` imports its backend lazily, after the output's staging folder exists) made a
tool that had printed "interrupted" and returned 130 end killed by SIGINT (status -2 seen from
Python; issue 12). The flag is only set for the exact type ``KeyboardInterrupt``, so the handlers
here raise :class:`Interrupted`, a subclass: every ``except KeyboardInterrupt`` clean-up still runs,
and the status is the one the tool returns.

* :class:`StopSignals` (a context manager) installs the handlers for one run and restores the
  previous ones afterwards. The *first* SIGINT/SIGTERM raises :class:`Interrupted`; later ones are
  only recorded, so a second Ctrl-C cannot cut the clean-up short (no partial output). ``hold()``
  turns raising off before a clean-up that did not start with an ``Interrupted`` (e.g. after
  rclpy's ``ExternalShutdownException``); ``deferred()`` / :func:`deferred_signals` hold a signal
  back until a step that must not be cut in two is complete.
* Exit status: 128 + the signal number, i.e. :data:`EXIT_SIGINT` 130 and :data:`EXIT_SIGTERM` 143
  (``StopSignals.exit_status`` / :func:`exit_status_for`); ``StopSignals.raise_for_status`` passes
  the interruption of a tool run in-process (``haze_demo`` → ``haze_bag``) on to its caller.

A signal that arrives before a tool's ``main()`` started (interpreter start-up, imports) gets
Python's default behaviour; nothing has been written by then.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Dict, Iterator, List, Optional, Sequence

EXIT_SIGINT = 128 + signal.SIGINT  # 130
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_ACTIVE: List["StopSignals"] = []  # the installed guards, innermost last


class Interrupted(KeyboardInterrupt):
    """Raised by :class:`StopSignals` for SIGINT or SIGTERM; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(signal.Signals(self.signum).name)

    @property
    def exit_status(self) -> int:
        """128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


def exit_status_for(exc: BaseException) -> int:
    """Exit status for an interruption: 128 + signal for :class:`Interrupted`, 130 for any other."""
    return exc.exit_status if isinstance(exc, Interrupted) else EXIT_SIGINT


class StopSignals:
    """Handlers for SIGINT/SIGTERM during one run of a tool (see the module docstring).

    ``signum`` is the first stop signal received (``None`` if none). Off the main thread (where
    Python cannot install handlers) nothing is installed and the block runs unchanged.
    """

    def __init__(self, signals: Sequence[int] = STOP_SIGNALS) -> None:
        self.signals = tuple(signals)
        self.signum: Optional[int] = None
        self.raising = True
        self._previous: Dict[int, object] = {}

    def _handle(self, signum: int, _frame) -> None:
        if self.signum is None:
            self.signum = signum
        if self.raising:
            self.raising = False  # once: the clean-up that follows must not be interrupted
            raise Interrupted(signum)

    def hold(self) -> None:
        """From now on stop signals are only recorded (a clean-up that must run to its end)."""
        self.raising = False

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A critical section: a stop signal inside it is recorded and raised when the block ends."""
        raising, self.raising = self.raising, False
        try:
            yield
        finally:
            if raising and self.signum is None:
                self.raising = True  # nothing came: back to raising
        if raising and self.signum is not None:
            raise Interrupted(self.signum)

    def raise_for_status(self, status: int) -> None:
        """Raise :class:`Interrupted` for a ``status`` of 130 / 143, as if this guard had caught it.

        For a tool run in-process (``haze_demo`` → ``haze_bag``) whose own guard took the signal;
        any other status: nothing.
        """
        if status in (EXIT_SIGINT, EXIT_SIGTERM):
            if self.signum is None:
                self.signum = status - 128
            self.raising = False
            raise Interrupted(status - 128)

    def exit_status(self, default: int) -> int:
        """128 + the first signal received, else ``default``."""
        return default if self.signum is None else 128 + self.signum

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
            _ACTIVE.append(self)
        return self

    def __exit__(self, *_exc) -> None:
        self.raising = False
        if self._previous:
            _ACTIVE.remove(self)
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """:meth:`StopSignals.deferred` of the innermost installed guard; nothing without one.

    For steps that must not be cut in two, e.g. starting a child process and registering it for
    the clean-up (``haze_demo``): the interruption is raised once the step is complete.
    """
    if not _ACTIVE:
        yield
        return
    with _ACTIVE[-1].deferred():
        yield
