"""haze_ros.core.exit_status: SIGINT/SIGTERM → one exit status, every time (issue 12).

The root cause, reproduced deterministically: under ``python -m`` (how the tests and
``haze_demo`` start the tools), a plain ``KeyboardInterrupt`` that leaves ``exec()``'d code (what
``@dataclass`` runs for every generated method) marks the interpreter, and even though the program
catches it and returns 130, CPython ends the process with SIGINT (status -2). The guard's
``Interrupted`` (a ``KeyboardInterrupt`` subclass) does not.
"""

import os
import signal
import subprocess
import sys
import threading

import pytest
from conftest import REPO

from haze_ros.core.exit_status import (EXIT_SIGINT, EXIT_SIGTERM, Interrupted, StopSignals,
                                       deferred_signals, exit_status_for)

# main() catches the interrupt and returns 128 + signal; the signal lands inside exec()'d code, as it
# does inside @dataclass during a lazy import
_CHILD = """
import os, signal, sys
from haze_ros.core.exit_status import StopSignals

def work():
    exec("import os, signal\\nos.kill(os.getpid(), signal.{sig})\\nfor _ in range(10**6): pass")

def main():
    if {guard}:
        with StopSignals() as stop:
            try:
                work()
            except KeyboardInterrupt:
                print("caught", file=sys.stderr)
                return stop.exit_status(0)
    else:
        # Python's own handler, installed explicitly: CPython installs it at start-up only if SIGINT
        # is not ignored then, and a child of a background job in a non-interactive shell (a CI
        # runner's, for one) inherits SIGINT ignored
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            work()
        except KeyboardInterrupt:
            print("caught", file=sys.stderr)
            return 130
    return 0

sys.exit(main())
"""


def _run_child(tmp_path, guard: bool, sig: str) -> subprocess.CompletedProcess:
    (tmp_path / "signal_child.py").write_text(_CHILD.format(guard=guard, sig=sig))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "signal_child"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the pinned CPython (3.11) shows the behaviour")
def test_plain_keyboard_interrupt_from_exec_code_kills_the_process_despite_return_130(tmp_path):
    """The control: Python's own handler; main() catches the interrupt and returns 130, yet -2."""
    done = _run_child(tmp_path, guard=False, sig="SIGINT")
    assert "caught" in done.stderr
    assert done.returncode == -signal.SIGINT, done.stderr


@pytest.mark.parametrize("sig, status", [("SIGINT", EXIT_SIGINT), ("SIGTERM", EXIT_SIGTERM)])
def test_guarded_exit_status_is_what_main_returns(tmp_path, sig, status):
    done = _run_child(tmp_path, guard=True, sig=sig)
    assert "caught" in done.stderr
    assert done.returncode == status, done.stderr


def _spin():
    for _ in range(10**5):  # Python runs signal handlers between bytecodes of the main thread
        pass


def test_first_signal_raises_once_later_ones_are_only_recorded():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with StopSignals() as stop:
        with pytest.raises(Interrupted) as caught:
            os.kill(os.getpid(), signal.SIGINT)
            _spin()
        assert caught.value.signum == signal.SIGINT and exit_status_for(caught.value) == EXIT_SIGINT
        os.kill(os.getpid(), signal.SIGTERM)  # during the clean-up: recorded, not raised
        _spin()
        assert stop.exit_status(0) == EXIT_SIGINT  # the first signal decides
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_hold_and_status_without_a_signal():
    with StopSignals() as stop:
        assert stop.exit_status(0) == 0
        stop.hold()
        os.kill(os.getpid(), signal.SIGTERM)
        _spin()
        assert stop.exit_status(0) == EXIT_SIGTERM
    assert exit_status_for(KeyboardInterrupt()) == EXIT_SIGINT


def test_raise_for_status_passes_an_in_process_interruption_on():
    with StopSignals() as stop:
        stop.raise_for_status(0)
        stop.raise_for_status(2)
        with pytest.raises(Interrupted) as caught:
            stop.raise_for_status(EXIT_SIGTERM)
        assert caught.value.signum == signal.SIGTERM and stop.exit_status(0) == EXIT_SIGTERM


def test_deferred_raises_once_the_step_is_complete():
    steps = []
    with StopSignals() as stop:
        with deferred_signals():  # no signal: nothing raised, raising again afterwards
            steps.append("quiet")
        assert stop.raising
        with pytest.raises(Interrupted) as caught:
            with deferred_signals():
                os.kill(os.getpid(), signal.SIGTERM)
                _spin()
                steps.append("finished")  # the step is not cut in two
        assert caught.value.signum == signal.SIGTERM and stop.exit_status(0) == EXIT_SIGTERM
    assert steps == ["quiet", "finished"]
    with deferred_signals():  # no guard installed: a no-op
        steps.append("unguarded")


def test_off_the_main_thread_nothing_is_installed():
    before = signal.getsignal(signal.SIGINT)
    seen = []

    def body():
        with StopSignals() as stop:
            seen.append((signal.getsignal(signal.SIGINT), stop.exit_status(5)))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(10)
    assert seen == [(before, 5)]


def test_tools_use_the_guard_not_bare_keyboard_interrupt_handlers():
    """No tool installs its own ``raise KeyboardInterrupt`` handler any more (the racy pattern)."""
    for name in ("bags/cli", "ros_tools/record", "ros_tools/replay", "ros_tools/demo", "ros/node"):
        source = (REPO / "haze_ros" / f"{name}.py").read_text()
        assert "StopSignals()" in source, name
        assert "signal.signal(" not in source and "raise KeyboardInterrupt" not in source, name
