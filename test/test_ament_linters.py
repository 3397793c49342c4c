"""The ament linters as tests: flake8 (setup.cfg: max line 110) and pep257 docstrings.

Uses the PyPI wheels of ``ament_flake8`` / ``ament_pep257`` (ros-ament-flake8, ros-ament-pep257).
Docstring convention: Google style (``Args:`` sections, summary on the first line), as in the rest
of the package; ament's own default (``ament``) wants the summary on the second line (D213) and
numpy-style sections, which this code base does not use. Tests need no docstrings per function.
"""

import pytest

from conftest import REPO

SOURCES = [str(REPO / "haze_ros"), str(REPO / "launch"), str(REPO / "setup.py")]
TESTS = [str(REPO / "test")]


def test_flake8():
    main = pytest.importorskip("ament_flake8.main", reason="ros-ament-flake8 not installed")
    errors = main.main_with_errors(argv=["--config", str(REPO / "setup.cfg")] + SOURCES + TESTS)[0]
    assert errors == 0, f"flake8 found {errors} problem(s); see the output above"


def test_pep257_sources():
    main = pytest.importorskip("ament_pep257.main", reason="ros-ament-pep257 not installed")
    rc = main.main(argv=SOURCES + ["--convention", "google", "--add-ignore", "D105", "D107"])
    assert rc == 0, "pep257 docstring problems in haze_ros/ or launch/; see the output above"


def test_pep257_tests():
    main = pytest.importorskip("ament_pep257.main", reason="ros-ament-pep257 not installed")
    missing = ["D100", "D101", "D102", "D103", "D104", "D105", "D106", "D107"]
    rc = main.main(argv=TESTS + ["--convention", "google", "--add-ignore"] + missing)
    assert rc == 0, "pep257 docstring problems in test/; see the output above"
