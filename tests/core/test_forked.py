"""salesbench.core.forked: a function run in a forked child gives the same answer as run here, or is run here."""
from __future__ import annotations

import os

import numpy as np
import pytest

from salesbench.core import forked

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only; the fallback is tested below")


def _pid_and_sum(values):
    return os.getpid(), float(np.sum(values))


def _raises(message):
    raise ValueError(message)


def _dies():
    os._exit(3)  # the child dies without an answer (in the parent this line is never reached: see the test)


def _unpicklable():
    return lambda: None


def _prints():
    print("from the child")
    return 7


def test_the_child_computes_and_the_parent_gets_the_value():
    p = forked.submit(_pid_and_sum, np.arange(10))
    pid, total = p.result()
    assert p.forked and pid != os.getpid() and total == 45.0


def test_an_exception_in_the_child_is_raised_in_the_parent():
    p = forked.submit(_raises, "bad input in row 7")
    with pytest.raises(ValueError, match="bad input in row 7"):
        p.result()


def test_without_fork_the_function_runs_here(monkeypatch):
    monkeypatch.setenv(forked.ENV, "0")
    p = forked.submit(_pid_and_sum, [1, 2])
    assert not p.forked and p.result() == (os.getpid(), 3.0)


def test_fork_is_off_on_macos_unless_asked(monkeypatch):
    monkeypatch.delenv(forked.ENV, raising=False)
    monkeypatch.setattr(forked.sys, "platform", "darwin")
    assert not forked.enabled()
    monkeypatch.setenv(forked.ENV, "1")
    assert forked.enabled()
    monkeypatch.setattr(forked.sys, "platform", "linux")
    monkeypatch.setenv(forked.ENV, "0")
    assert not forked.enabled()


def test_a_child_that_dies_or_cannot_send_its_answer_is_replaced_by_this_process(monkeypatch):
    p = forked.submit(_unpicklable)
    assert callable(p.result())  # computed here: a lambda cannot travel through the pipe
    calls = []
    p = forked.submit(_dies)
    monkeypatch.setattr(p, "_call", (lambda: calls.append(os.getpid()) or "here", (), {}))
    assert p.result() == "here" and calls == [os.getpid()]


def test_the_child_prints_nothing(capfd):
    assert forked.submit(_prints).result() == 7
    out, err = capfd.readouterr()
    assert "from the child" not in out + err
