"""The two run-wide switches of mutation testing — "no writes to the disk cache" and "do not shrink
Hypothesis witnesses" — are context variables set by context managers (issue 14: "Context variables
instead of the list flags").

Why they are not module globals: a global toggled by one block leaks (a) into every other thread of the
process (a ``verify`` running beside a mutation sweep would stop caching), and (b) out of a nested
block, whose ``finally`` used to set the switch back to *on* while the outer mutation run was still
going (a mutant control run inside a mutation sweep re-enabled cache writes for the rest of the sweep).
Each test below fails on the old one-element lists ``cache.WRITES_ENABLED`` / ``checks.SHRINK_WITNESSES``.
"""
from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from icl_proofs import cache, controls
from icl_proofs.claims import checks as checks_mod
from icl_proofs.claims import registry
from icl_proofs.claims.base import CheckContext, Control


def test_switches_are_restored_after_an_exception():
    with pytest.raises(RuntimeError):
        with cache.writes_disabled(), checks_mod.witness_shrinking(False):
            assert not cache.writes_enabled() and not checks_mod.shrinking_witnesses()
            raise RuntimeError("a check crashed mid-sweep")
    assert cache.writes_enabled() and checks_mod.shrinking_witnesses()


def test_nested_block_restores_the_outer_setting_not_the_default():
    """A mutant control run inside a mutation sweep (both turn the switches off) must leave them off
    for the rest of the sweep; the old ``finally: flag[0] = True`` turned them back on."""
    claim = registry.get("zfb23.gaussian-moments")
    check = next(c for c in claim.checks() if c.name == "gamma-symbolic")
    control = Control.negative("Γ", mutant="gaussian_moments['gamma'] 1/N→1/(N+1)")
    with cache.writes_disabled(), checks_mod.witness_shrinking(False):
        outcome = controls.run_control(claim, check, control, CheckContext(quick=True))
        assert outcome.passed  # the control really ran (and patched a derivation)
        assert not cache.writes_enabled(), "the inner control re-enabled cache writes"
        assert not checks_mod.shrinking_witnesses(), "the inner control re-enabled shrinking"
    assert cache.writes_enabled() and checks_mod.shrinking_witnesses()


def test_a_switch_set_in_one_thread_does_not_leak_into_another():
    """Route: two threads synchronised by events — thread A turns writes and shrinking off and waits;
    thread B, running meanwhile, must still see both on (with a module global it saw them off)."""
    a_inside, b_done = threading.Event(), threading.Event()
    seen = {}

    def a():
        with cache.writes_disabled(), checks_mod.witness_shrinking(False):
            a_inside.set()
            b_done.wait(10)

    def b():
        a_inside.wait(10)
        seen["writes"], seen["shrink"] = cache.writes_enabled(), checks_mod.shrinking_witnesses()
        b_done.set()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen == {"writes": True, "shrink": True}


def test_work_handed_to_a_thread_pool_carries_the_switch_only_when_the_context_is_copied():
    """Executor threads start from the default context: code that hands mutant-run work to a thread
    pool must submit it through ``contextvars.copy_context().run`` (documented here, so a parallel
    mutation sweep cannot silently write mutants to the cache)."""
    with ThreadPoolExecutor(max_workers=1) as pool, cache.writes_disabled():
        plain = pool.submit(cache.writes_enabled).result()
        copied = pool.submit(contextvars.copy_context().run, cache.writes_enabled).result()
    assert (plain, copied) == (True, False)


def test_disk_cached_derivation_is_not_written_while_writes_are_disabled(tmp_path, monkeypatch):
    """The switch is what ``disk_cached`` reads: no entry appears while it is off, one appears after."""
    monkeypatch.setenv("ICL_PROOFS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("ICL_PROOFS_CACHE", "1")
    calls = []

    def make():
        calls.append(1)
        return 7

    off = cache.disk_cached("test-context-flags-off")(make)
    with cache.writes_disabled():
        assert off() == 7
    assert not list(tmp_path.rglob("*test-context-flags-off*"))
    on = cache.disk_cached("test-context-flags-on")(make)
    assert on() == 7
    assert list(tmp_path.rglob("*test-context-flags-on*")) and len(calls) == 2
