"""``mutate`` follows a ``derive()`` inherited from a user's own base class (it used to skip it:
"no derived formula … could be mutated", exit 0), and says in one line, with a nonzero exit, when a
``derive()`` cannot be patched."""
from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sympy as sp
from click.testing import CliRunner

from icl_proofs.claims import registry
from icl_proofs.claims.base import Check, Claim
from icl_proofs.claims.checks import exact_equal, holds, refuted
from icl_proofs.cli import cli
from icl_proofs.mutation import mutate_claim
from icl_proofs.mutation.engine import CannotMutate, _replaceable, derive_target

ROOT = Path(__file__).resolve().parents[1]
x, N = sp.symbols("x N", positive=True)
FORMULA = x / 2 + x**2 / N  # a ½ and a 1/N: three operators apply (1/N→1/(N+1), flip-sign, missing-½)
BY_HAND = sp.Rational(3, 2) + sp.Rational(9, 5)  # the formula at x = 3, N = 5, worked out by hand


def _exact_check(claim):
    def exact(ctx):  # independent route: the value at one point computed by hand
        got = claim.derive()["value"].subs({x: 3, N: 5})
        return exact_equal("exact", [({"x": 3, "N": 5}, got, BY_HAND)], "value at (3, 5) by hand")
    return [Check("exact", "exact-rational", exact)]


class _Described(Claim):
    paper, source, title, statement = "test", "test", "toy", "toy"


# ----------------------------------------------------------------- the ways a base can define derive()

class PlainBase(_Described):
    def derive(self):
        return {"value": FORMULA}


class StaticBase(_Described):
    @staticmethod
    def derive():
        return {"value": FORMULA}


class ClassBase(_Described):
    @classmethod
    def derive(cls):
        return {"value": FORMULA}


class CachedBase(_Described):
    @functools.lru_cache(maxsize=None)
    def derive(self):
        return {"value": FORMULA}


def _claim_inheriting(base):
    class Inheriting(base):
        id = f"test.inherits-{base.__name__.lower()}"

        def checks(self):
            return _exact_check(self)
    return Inheriting()


@pytest.mark.parametrize("base", [PlainBase, StaticBase, ClassBase, CachedBase])
def test_inherited_derive_is_mutated_where_it_is_defined(base):
    claim = _claim_inheriting(base)
    original = vars(base)["derive"]
    cm = mutate_claim(claim)
    assert cm.cannot_mutate is None
    assert {m.target for m in cm.mutants} == {f"{__name__}.{base.__qualname__}.derive"}
    assert {m.operator for m in cm.mutants} == {"1/N→1/(N+1)", "flip-sign", "missing-½"}
    assert cm.killed == cm.total == 3, [m.to_json() for m in cm.mutants]
    # the base is itself again and the subclass gained no attribute of its own
    assert vars(base)["derive"] is original and "derive" not in vars(type(claim))
    assert claim.derive() == {"value": FORMULA}


def test_inherited_derive_mutants_can_survive_a_weak_check():
    """The mutants really reach the checks: a sign-only check misses two of the three."""
    class Weak(PlainBase):
        id = "test.inherits-weak"

        def checks(self):
            def positive(ctx):
                v = self.derive()["value"].subs({x: 3, N: 5})
                return holds("positive", "exact-rational", f"{v} > 0") if v > 0 else refuted(
                    "positive", "exact-rational", f"{v} <= 0", {"value": str(v)})
            return [Check("positive", "exact-rational", positive)]

    cm = mutate_claim(Weak())
    assert {m.operator for m in cm.survivors()} == {"1/N→1/(N+1)", "missing-½"}
    assert cm.killed == 1


def test_derive_set_on_the_instance_is_mutated():
    claim = _claim_inheriting(_Described)
    claim.derive = lambda: {"value": FORMULA}
    cm = mutate_claim(claim)
    assert cm.killed == cm.total == 3 and cm.cannot_mutate is None
    assert claim.derive() == {"value": FORMULA}


def test_a_claim_without_derive_has_no_derive_target():
    assert derive_target(_claim_inheriting(_Described)) is None


def test_user_module_base_class_through_the_cli(tmp_path):
    """The reported case: a user's base class in its own module, the claim in another, loaded as a
    plugin; mutate used to print 'no derived formula … could be mutated' and exit 0."""
    (tmp_path / "my_base.py").write_text(textwrap.dedent("""
        import sympy as sp
        from icl_proofs.claims import Claim

        x, N = sp.symbols("x N", positive=True)

        class MyBase(Claim):
            paper, source, title, statement = "mine", "Prop. 1", "toy", "toy"

            def derive(self):
                return {"value": x / 2 + x**2 / N}
        """))
    (tmp_path / "my_claims.py").write_text(textwrap.dedent("""
        import sympy as sp
        from icl_proofs.claims import Check, register
        from icl_proofs.claims.checks import exact_equal
        from my_base import MyBase, x, N

        @register
        class Mine(MyBase):
            id = "mine.inherited"

            def checks(self):
                def exact(ctx):
                    got = self.derive()["value"].subs({x: 3, N: 5})
                    return exact_equal("exact", [({"x": 3, "N": 5}, got, sp.Rational(33, 10))], "by hand")
                return [Check("exact", "exact-rational", exact)]
        """))
    env = dict(os.environ, ICL_PROOFS_PLUGINS="my_claims",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-m", "icl_proofs.cli", "mutate", "mine", "--quick"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mine.inherited: 3/3 mutants killed (100 %)" in r.stdout, r.stdout


# --------------------------------------------------------------------------------- cannot: one line

class _Frozen(type):
    """A metaclass that forbids assignment on the classes marked ``_frozen`` (as an extension type
    does): the derive() defined there cannot be replaced."""

    def __setattr__(cls, name, value):
        if vars(cls).get("_frozen"):
            raise TypeError(f"cannot set {name!r} attribute of immutable type {cls.__name__!r}")
        super().__setattr__(name, value)


class FrozenBase(_Described, metaclass=_Frozen):
    _frozen = True

    def derive(self):
        return {"value": FORMULA}


class PropertyBase(_Described):
    derive = property(lambda self: (lambda: {"value": FORMULA}))


def test_extension_types_are_not_replaceable():
    assert not _replaceable(int) and not _replaceable(FrozenBase) and _replaceable(PlainBase)


@pytest.mark.parametrize("base, why", [
    (FrozenBase, "a class whose attributes cannot be replaced"),
    (PropertyBase, "as a property, not a method"),
])
def test_underivable_derive_is_one_line_and_exit_1(base, why):
    claim = _claim_inheriting(base)
    with pytest.raises(CannotMutate, match=why):
        derive_target(claim)
    registry.register(claim)
    try:
        r = CliRunner().invoke(cli, ["mutate", claim.id, "--quick"])
    finally:
        registry.unregister(claim.id)
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    (line,) = [ln for ln in r.output.splitlines() if ln.startswith(claim.id)]
    assert line.startswith(f"{claim.id}: cannot mutate its derive(): derive() is defined on "
                           f"{__name__}.{base.__qualname__}") and why in line


def test_a_derive_no_check_calls_is_named_in_the_summary():
    """Nothing to mutate stays exit 0 (as for a claim without derivations), but the line says why."""
    from icl_proofs.mutation import summary_line

    class Unread(PlainBase):
        id = "test.inherits-unread"

        def checks(self):  # computes its value without derive(): nothing derived is tested
            return [Check("exact", "exact-rational", lambda ctx: exact_equal(
                "exact", [({}, BY_HAND, sp.Rational(33, 10))], "by hand"))]

    cm = mutate_claim(Unread())
    assert cm.total == 0 and cm.derive_never_called == f"{__name__}.PlainBase.derive"
    assert summary_line(cm) == ("test.inherits-unread: no derived formula read by its checks could be mutated "
                                f"(its derive(), {__name__}.PlainBase.derive, is never called by them)")
