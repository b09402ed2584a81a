"""Mutation testing of a claim: perturb each derived formula its checks read, re-run the checks.

1. **Discover.**  Run the claim's checks once with every derivation instrumented (every function of a
   ``derive`` module, and functions marked :func:`~icl_proofs.claims.base.derivation`): record which
   derivations the checks call, which parts of their results they read (dict keys, tuple items,
   dataclass fields), and which cached helpers call them (those caches are cleared for each mutant so
   that the mutant flows through them).
2. **Mutate.**  For each part read and each operator of :mod:`.operators` that applies, patch the
   derivation so that it returns the mutant, and re-run the checks — cheapest first, stopping at the
   first check whose verdict moves off ``holds``.  A mutant is *killed* when a check that held on the
   true formula no longer does (``refuted``, or ``inconclusive`` — e.g. a crash: either way the user is
   not told "holds").  The baseline must be the same seed and settings, so any change is the mutant's.

Everything runs in this process (``workers=1``) so the patched derivations are the ones used, and no
mutant is written to the on-disk derivation cache.
"""
from __future__ import annotations

import contextlib
import dataclasses
import inspect
import sys
import time
from typing import Callable

from .. import cache
from ..claims import checks as checks_mod
from ..claims.base import CheckContext, Claim, Status
from . import operators as ops

MAX_DEPTH = 2


# ------------------------------------------------------------------------------------------ sites

def _step_text(step) -> str:
    kind, k = step
    return f"[{k!r}]" if kind == "key" else f"[{k}]" if kind == "idx" else f".{k}"


def path_text(path) -> str:
    return "".join(_step_text(s) for s in path)


def _children(value, top: bool):
    if isinstance(value, dict):
        return [(("key", k), v) for k, v in value.items()]
    if isinstance(value, tuple) or (isinstance(value, list) and not ops._is_table(value)):
        return [(("idx", i), v) for i, v in enumerate(value)]
    # a record's fields are its formulas only when the derivation returns the record itself; a record
    # passed along inside a tuple comes from another derivation, mutated there
    if top and dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(("attr", f.name), getattr(value, f.name)) for f in dataclasses.fields(value)]
    return []


def sites(value, depth: int = MAX_DEPTH, prefix=()) -> list[tuple]:
    """Paths to the mutable parts of a derivation's result (the result itself is path ``()``)."""
    if ops.value_kind(value) is not None:
        return [prefix]
    if depth == 0:
        return []
    out = []
    for step, child in _children(value, top=not prefix):
        out += sites(child, depth - 1, prefix + (step,))
    return out


def get_at(value, path):
    for kind, k in path:
        value = value[k] if kind in ("key", "idx") else getattr(value, k)
    return value


def replace_at(value, path, new):
    """A copy of ``value`` with the part at ``path`` replaced (containers copied, never mutated)."""
    if not path:
        return new
    (kind, k), rest = path[0], path[1:]
    if kind == "key":
        out = dict(value)
        out[k] = replace_at(value[k], rest, new)
        return out
    if kind == "idx":
        items = list(value)
        items[k] = replace_at(value[k], rest, new)
        return type(value)(items) if isinstance(value, tuple) else items
    return dataclasses.replace(value, **{k: replace_at(getattr(value, k), rest, new)})


class _ReadDict(dict):
    """A dict that records which keys were read (used only while discovering)."""

    def __init__(self, data, on_read):
        super().__init__(data)
        self._on_read = on_read

    def __getitem__(self, k):
        self._on_read(k)
        return super().__getitem__(k)

    def get(self, k, default=None):
        self._on_read(k)
        return super().get(k, default)

    def _all(self):
        for k in dict.keys(self):
            self._on_read(k)

    def items(self):
        self._all()
        return super().items()

    def values(self):
        self._all()
        return super().values()

    def __iter__(self):
        self._all()
        return super().__iter__()

    def __reduce__(self):  # pickles (e.g. to a cache) as a plain dict
        return (dict, (dict(self),))


_TRACKED: dict = {}


def _tracked_record(record, on_read):
    """A copy of a dataclass record that reports which fields are read (while discovering only)."""
    cls = type(record)
    sub = _TRACKED.get(cls)
    if sub is None:
        names = frozenset(f.name for f in dataclasses.fields(cls))

        def __getattribute__(self, attr, _names=names):
            if attr in _names:
                object.__getattribute__(self, "_icl_on_read")(attr)
            return object.__getattribute__(self, attr)

        sub = _TRACKED[cls] = type(cls.__name__, (cls,), {"__getattribute__": __getattribute__})
    try:
        out = object.__new__(sub)
        out.__dict__.update(vars(record))
        object.__setattr__(out, "_icl_on_read", on_read)
    except (TypeError, AttributeError):  # slots or other exotic records: every field counts as read
        return None
    return out


# ------------------------------------------------------------------------------------- derivations

@dataclasses.dataclass
class Target:
    """One derivation: where it lives and every name bound to it inside the package."""

    name: str  # module.qualname
    fn: Callable
    bindings: list  # (namespace object, attribute name)
    method_of: type | None = None  # the class whose derive() this is (the claim's, or a base's)
    #: how a replacement is stored so that it binds like the original (staticmethod, classmethod);
    #: None: stored as it is (a plain function binds ``self`` exactly as the original did)
    rewrap: Callable | None = None


def _is_derivation(module_name: str, attr: str, fn) -> bool:
    marked = getattr(fn, "icl_derivation", None)
    if marked is not None:
        return bool(marked)
    # public functions of a derive module; private ones are helpers (lambdified copies, quadrature
    # rules) whose caches are cleared per mutant so that the mutant flows through them
    return module_name.rsplit(".", 1)[-1] == "derive" and not attr.startswith("_")


#: packages whose in-memory caches may hold values computed from a derivation
_HOLDER_PACKAGES = ("icl_proofs.claims.", "icl_proofs.numeric.", "icl_proofs.models.")


def cache_holders(targets: dict[str, Target] | None = None) -> list:
    """Every in-memory (lru) cache that may hold a value computed from a derived formula (those of
    the claims, numeric and model packages, and of every module defining a derivation): cleared
    before and after each mutant, so the mutant reaches every check and never outlives its run."""
    out, seen = [], set()
    homes = {t.fn.__module__ for t in (targets or {}).values() if hasattr(t.fn, "__module__")}
    for mname, mod in list(sys.modules.items()):
        if mod is None or not (mname.startswith(_HOLDER_PACKAGES) or mname in homes):
            continue
        for val in list(vars(mod).values()):
            if (hasattr(val, "cache_clear") and not hasattr(val, "disk_cache_name") and id(val) not in seen
                    and getattr(val, "__module__", None) == mname):
                seen.add(id(val))
                out.append(val)
    return out


class CannotMutate(Exception):
    """The claim's ``derive()`` exists but cannot be replaced for the mutants (the message says why)."""


def _defining_class(claim: Claim) -> type | None:
    """The class in the claim's MRO that defines the ``derive()`` the claim uses (None: only the
    framework's empty default, i.e. the claim derives nothing through ``derive()``)."""
    owner = next((k for k in type(claim).__mro__ if "derive" in vars(k)), Claim)
    return None if owner is Claim else owner


def _replaceable(cls: type) -> bool:
    """Can an attribute of ``cls`` be replaced and restored?  Not on an extension (C) or built-in
    type, nor on a class whose metaclass refuses assignment."""
    probe = "_icl_mutation_probe"
    try:
        setattr(cls, probe, None)
        delattr(cls, probe)
    except (TypeError, AttributeError):
        return False
    return True


def _where(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def derive_target(claim: Claim) -> Target | None:
    """The claim's ``derive()`` as a mutation target, wherever it is defined: on the instance, on the
    claim's class, or inherited from a base class (e.g. a user's own base claim) — it is patched
    where it is defined, so that every lookup through the MRO sees the mutant.  None when the claim
    only has the framework's empty default; :class:`CannotMutate` when it cannot be patched."""
    if "derive" in vars(claim):  # set on the instance: instance attributes do not bind self
        fn = vars(claim)["derive"]
        name = f"{_where(type(claim))}.derive (set on the instance)"
        return Target(name, fn, [(claim, "derive")], type(claim))
    owner = _defining_class(claim)
    if owner is None:
        return None
    raw = vars(owner)["derive"]
    where = f"derive() is defined on {_where(owner)}"
    if not _replaceable(owner):
        raise CannotMutate(f"{where}, a class whose attributes cannot be replaced (an extension or "
                           "built-in type, or a metaclass that forbids assignment), so no mutant of its "
                           "result can be put in its place")
    name = f"{_where(owner)}.derive"
    if isinstance(raw, (staticmethod, classmethod)):
        return Target(name, raw.__func__, [(owner, "derive")], owner, rewrap=type(raw))
    if not callable(raw):
        raise CannotMutate(f"{where} as a {type(raw).__name__}, not a method, so there is no call "
                           "whose result a mutant could replace")
    # a callable that is not a descriptor (a builtin function, a functools.partial) is not bound to
    # the instance: its replacement must not be either
    binds = inspect.isfunction(raw) or hasattr(type(raw), "__get__")
    return Target(name, raw, [(owner, "derive")], owner, rewrap=None if binds else staticmethod)


def derivations(claim: Claim | None = None, with_derive: bool = True) -> dict[str, Target]:
    """Every derivation in the loaded package, and the claim's ``derive()`` if it has one of its own
    or inherits one from a base class other than :class:`Claim` (see :func:`derive_target`; raises
    :class:`CannotMutate` when that one cannot be patched)."""
    # a user's claim: its own module and those of its base classes too (marked derivations there)
    homes = {k.__module__ for k in type(claim).__mro__} if claim is not None else set()
    mods = {n: m for n, m in list(sys.modules.items())
            if m is not None and (n.startswith("icl_proofs.") or n in homes)}
    found: dict[int, Target] = {}
    for mname, mod in mods.items():
        for attr, val in list(vars(mod).items()):
            if not callable(val) or isinstance(val, type) or getattr(val, "__module__", None) != mname:
                continue
            if _is_derivation(mname, attr, val) and id(val) not in found:
                found[id(val)] = Target(f"{mname}.{getattr(val, '__qualname__', attr)}", val, [])
    for mod in mods.values():  # every name bound to a derivation, e.g. `from .derive import f`
        for attr, val in list(vars(mod).items()):
            t = found.get(id(val))
            if t is not None:
                t.bindings.append((mod, attr))
    out = {t.name: t for t in found.values()}
    own = derive_target(claim) if claim is not None and with_derive else None
    if own is not None:
        out[own.name] = own
    return out


@contextlib.contextmanager
def _patched(targets: dict[str, Target], make: Callable[[Target], Callable]):
    saved = []
    try:
        for t in targets.values():
            new = make(t)
            if new is None:
                continue
            if t.rewrap is not None:
                new = t.rewrap(new)
            for ns, attr in t.bindings:
                # the stored object, not what attribute access makes of it: a class's staticmethod
                # or classmethod must be put back as one
                saved.append((ns, attr, vars(ns)[attr] if attr in vars(ns) else getattr(ns, attr)))
                setattr(ns, attr, new)
        yield
    finally:
        for ns, attr, old in reversed(saved):
            setattr(ns, attr, old)


def _clear_all(fns) -> None:
    for f in fns:
        if hasattr(f, "cache_clear") and not hasattr(f, "disk_cache_name"):
            f.cache_clear()


# ---------------------------------------------------------------------------------------- discovery

@dataclasses.dataclass
class Discovery:
    baseline: list  # CheckResult per check, in plan order
    reads: dict  # target name -> {path: set of check names that read it}
    values: dict  # (target name, path) -> an example value (for the operators)
    callers: dict  # target name -> set of target names that called it (transitively, cached ones)


def _run_checks(checks, ctx, stop):
    """Run ``checks`` in order until ``stop(check, result)`` says so."""
    from ..runner import run_check

    for c in checks:
        if stop(c, run_check(c, ctx)):
            return


def discover(claim: Claim, checks, ctx: CheckContext, targets: dict[str, Target]) -> Discovery:
    """The baseline run: every check once, with the derivations instrumented (see module docstring)."""
    reads: dict = {}
    values: dict = {}
    callers: dict = {}
    stack: list[tuple[str, bool]] = []
    current = {"check": None}

    def make(t: Target):
        orig = t.fn
        disk = hasattr(orig, "disk_cache_name")

        def wrapper(*args, **kw):
            if any(d for _, d in stack):
                # computed inside an on-disk-cached derivation: that result is loaded, never
                # re-derived, so nothing in here is read at check time (and a fresh cache must
                # give the same mutants as a warm one)
                return orig(*args, **kw)
            for caller, _ in stack:
                if caller != t.name:
                    callers.setdefault(t.name, set()).add(caller)
            stack.append((t.name, disk))
            try:
                res = orig(*args, **kw)
            finally:
                stack.pop()
            check = current["check"]
            mine = reads.setdefault(t.name, {})
            paths = sites(res)
            for path in paths:
                values.setdefault((t.name, path), get_at(res, path))

            def on_read(k, kind):
                for path in paths:
                    if path and path[0] == (kind, k):
                        mine.setdefault(path, set()).add(current["check"])

            if isinstance(res, dict):
                return _ReadDict(res, lambda k: on_read(k, "key"))
            if dataclasses.is_dataclass(res) and not isinstance(res, type):
                rec = _tracked_record(res, lambda k: on_read(k, "attr"))
                if rec is not None:
                    return rec
            for path in paths:  # tuples, whole values: read when returned
                mine.setdefault(path, set()).add(check)
            return res

        return wrapper

    _clear_all([t.fn for t in targets.values()] + cache_holders(targets))
    from ..runner import run_check

    baseline = []
    with _patched(targets, make):
        for c in checks:
            current["check"] = c.name
            baseline.append(run_check(c, ctx))
    _clear_all(t.fn for t in targets.values())
    return Discovery(baseline, reads, values, callers)


# ------------------------------------------------------------------------------------------ mutants

@dataclasses.dataclass
class MutantResult:
    target: str
    path: str
    operator: str
    where: str
    status: str  # "killed" or "survived"
    killed_by: str | None = None  # check name
    verdict: str | None = None  # that check's verdict: baseline → under the mutant
    evidence: str | None = None
    read_by: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    #: for a survivor: the baseline verdicts of the checks that read the mutated part
    readers_baseline: dict = dataclasses.field(default_factory=dict)

    #: the claim's reason why this mutant cannot change a verdict (``Claim.equivalent_mutants``)
    equivalent: str | None = None

    @property
    def key(self) -> tuple:
        return (self.target, self.path, self.operator)

    @property
    def label(self) -> str:
        """``derivation[part] operator``: how a claim names the mutant in ``equivalent_mutants``."""
        return f"{self.target.rsplit('.', 1)[-1]}{self.path} {self.operator}"

    @property
    def why(self) -> str:
        """Why a mutant survived, as far as the run can tell (the rest is for a person to judge)."""
        if self.status == "killed":
            return f"killed by {self.killed_by} ({self.verdict})"
        if self.equivalent:
            return f"equivalent for this claim: {self.equivalent}"
        if not self.read_by:
            return "read only inside other derivations; every check kept its verdict"
        held = [c for c in self.read_by if self.readers_baseline.get(c) == "holds"]
        other = [f"{c} ({self.readers_baseline.get(c)})" for c in self.read_by if c not in held]
        parts = []
        if held:
            parts.append(f"read by {', '.join(held)}, which still hold")
        if other:
            parts.append(f"read by {', '.join(other)}, which kept that verdict")
        return "; ".join(parts)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["seconds"] = round(self.seconds, 3)
        d["why"] = self.why
        return d


@dataclasses.dataclass
class ClaimMutation:
    claim: str
    baseline: dict  # check name -> status
    mutants: list
    not_mutable: list  # derivations read whose values no operator applies to
    seconds: float = 0.0

    #: declarations of ``Claim.equivalent_mutants`` that match no surviving mutant: a killed
    #: "equivalent" mutant (the declaration is wrong) or one no longer generated (stale)
    wrong_declarations: list = dataclasses.field(default_factory=list)

    #: why the claim's ``derive()`` could not be mutated (:class:`CannotMutate`); None when it could,
    #: or when the claim has none.  A run that could not test ``derive()`` must not read as a pass.
    cannot_mutate: str | None = None

    #: the claim's own or inherited ``derive()`` (its target name) when no check ever called it: then
    #: nothing the checks test is a derived formula, which the summary says instead of a bare "none"
    derive_never_called: str | None = None

    @property
    def killed(self) -> int:
        return sum(m.status == "killed" for m in self.mutants)

    @property
    def total(self) -> int:
        return len(self.mutants)

    @property
    def equivalent(self) -> int:
        return sum(m.status == "survived" and bool(m.equivalent) for m in self.mutants)

    @property
    def raw_kill_rate(self) -> float | None:
        return self.killed / self.total if self.total else None

    @property
    def kill_rate(self) -> float | None:
        """Killed over the mutants that could change a verdict (the usual mutation score: declared
        equivalent survivors left out of the denominator; :attr:`raw_kill_rate` keeps them)."""
        n = self.total - self.equivalent
        return self.killed / n if n else None

    def survivors(self) -> list:
        """Surviving mutants not declared equivalent."""
        return [m for m in self.mutants if m.status == "survived" and not m.equivalent]

    def equivalents(self) -> list:
        return [m for m in self.mutants if m.status == "survived" and m.equivalent]

    def to_json(self) -> dict:
        return {
            "claim": self.claim,
            "killed": self.killed,
            "total": self.total,
            "equivalent": self.equivalent,
            "kill_rate": self.kill_rate,
            "raw_kill_rate": self.raw_kill_rate,
            "wrong_declarations": self.wrong_declarations,
            "baseline": self.baseline,
            "mutants": [m.to_json() for m in self.mutants],
            "not_mutable": self.not_mutable,
            "cannot_mutate": self.cannot_mutate,
            "derive_never_called": self.derive_never_called,
            "seconds": round(self.seconds, 3),
        }


def composites(disc: Discovery) -> set[str]:
    """Derivations computed (in this run) from other derivations: a mistake in them is a mistake in
    their sources, whose mutants flow through them (their caches are cleared per mutant)."""
    return {c for callers in disc.callers.values() for c in callers}


def plan_mutants(disc: Discovery, operators=ops.OPERATORS) -> list[tuple]:
    """(target, path, Mutant) for every part the checks read and every operator that applies."""
    out = []
    skip = composites(disc)
    for name in sorted(disc.reads):
        if name in skip:
            continue
        for path in sorted(disc.reads[name], key=path_text):
            value = disc.values[(name, path)]
            for op in operators:
                m = ops.mutate(value, op)
                if m is not None:
                    out.append((name, path, m))
    return out


def _all_callers(disc: Discovery, name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        for c in disc.callers.get(todo.pop(), ()):
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen


def result_patcher(name: str, change: Callable):
    """A ``make`` for :func:`_patched`: wrap the derivation called ``name`` so that every result it
    returns passes through ``change`` (memoised per result object, so a cached result maps to the
    same changed object every time it is returned)."""
    memo: dict = {}

    def make(t: Target):
        if t.name != name:
            return None
        orig = t.fn

        def wrapper(*args, **kw):
            res = orig(*args, **kw)
            hit = memo.get(id(res))
            if hit is not None and hit[0] is res:
                return hit[1]
            out = change(res)
            memo[id(res)] = (res, out)
            return out

        return wrapper

    return make


def run_mutant(name, path, mutant, targets, disc, checks, ctx) -> MutantResult:
    """Patch ``name`` so that the part at ``path`` is ``mutant`` (re-derived for every result it
    returns: a derivation called with other arguments is mutated the same way) and re-run checks."""
    t0 = time.perf_counter()
    target = targets[name]

    def mutated(res):
        try:
            part = get_at(res, path)
        except (KeyError, IndexError, AttributeError, TypeError):
            return res
        m = mutant.value if part is disc.values[(name, path)] else (
            getattr(ops.mutate(part, mutant.operator), "value", part))
        return replace_at(res, path, m)

    make = result_patcher(name, mutated)

    base = {r.name: r for r in disc.baseline}
    read_by = sorted({c for c in disc.reads.get(name, {}).get(path, ()) if c})
    # the checks that read this part first, each group cheapest first: most mutants die at once
    order = sorted(checks, key=lambda c: (c.name not in read_by, base[c.name].seconds))
    dependents = [targets[n] for n in _all_callers(disc, name) if n in targets]

    killer = {}

    def stop(c, r):
        # killed: a check's verdict moves (holds -> refuted/inconclusive, inconclusive -> refuted, ...)
        if r.status is not base[c.name].status:
            killer.update(check=c.name, status=r.status.value, evidence=r.evidence,
                          was=base[c.name].status.value)
            return True
        return False

    holders = cache_holders(targets)
    _clear_all(holders + [t.fn for t in dependents + [target]])
    try:
        with _patched(targets, make):
            _run_checks(order, ctx, stop=stop)
    finally:
        _clear_all(holders + [t.fn for t in dependents + [target]])
    return MutantResult(
        target=name, path=path_text(path), operator=mutant.operator, where=mutant.where,
        status="killed" if killer else "survived", killed_by=killer.get("check"),
        verdict=(f"{killer['was']} → {killer['status']}" if killer else None), evidence=(killer.get("evidence") or "")[:300] or None,
        read_by=read_by, seconds=time.perf_counter() - t0,
        readers_baseline={c: base[c].status.value for c in read_by if c in base},
    )


def mutate_claim(claim: Claim, ctx: CheckContext | None = None, operators=ops.OPERATORS,
                 on_mutant: Callable[[MutantResult, int, int], None] | None = None) -> ClaimMutation:
    """Mutation-test one claim's checks (see the module docstring)."""
    from ..parallel import current, using
    from ..runner import planned_checks

    ctx = ctx or CheckContext(quick=True)
    t0 = time.perf_counter()
    plan = planned_checks(claim, ctx)
    if not isinstance(plan, list):
        raise RuntimeError(f"{claim.id}: checks() failed: {plan.evidence}")
    try:
        targets, cannot = derivations(claim), None
    except CannotMutate as e:  # the other derivations its checks read are still mutated
        targets, cannot = derivations(claim, with_derive=False), str(e)
    with cache.writes_disabled(), checks_mod.witness_shrinking(False), \
            using(dataclasses.replace(current(), workers=1, scheduler=None, backend="numpy")):
        disc = discover(claim, plan, ctx, targets)
        planned = plan_mutants(disc, operators)
        results = []
        for i, (name, path, m) in enumerate(planned):
            r = run_mutant(name, path, m, targets, disc, plan, ctx)
            results.append(r)
            if on_mutant is not None:
                on_mutant(r, i + 1, len(planned))
    declared = dict(getattr(claim, "equivalent_mutants", {}) or {})
    for r in results:
        if r.label in declared and r.status == "survived":
            r.equivalent = declared[r.label]
    labels = {r.label: r for r in results}
    wrong = [f"{k}: declared equivalent ({v}) but " + ("killed by " + labels[k].killed_by if k in labels
                                                        else "no such mutant was generated")
             for k, v in declared.items() if k not in labels or labels[k].status == "killed"]
    mutable = {(n, p) for n, p, _ in planned}
    not_mutable = sorted({f"{n}{path_text(p)}" for n in disc.reads for p in disc.reads[n]
                          if (n, p) not in mutable})
    own = next((t.name for t in targets.values() if t.method_of is not None), None)
    return ClaimMutation(claim.id, {r.name: r.status.value for r in disc.baseline}, results, not_mutable,
                         time.perf_counter() - t0, wrong, cannot,
                         own if own is not None and own not in disc.reads else None)


def suite_kills(results: list[ClaimMutation]) -> dict:
    """Each distinct mutant (derivation, part, operator) once: killed if *any* claim's checks kill it
    (the usual mutation score of a test suite; a formula read by several claims counts once), else
    equivalent if a claim that ran it declares it so, else a survivor."""
    fate: dict = {}
    for cm in results:
        for m in cm.mutants:
            was = fate.get(m.key, "survived")
            now = "killed" if m.status == "killed" else ("equivalent" if m.equivalent else "survived")
            rank = {"survived": 0, "equivalent": 1, "killed": 2}
            fate[m.key] = now if rank[now] > rank[was] else was
    survivors = sorted(f"{t.rsplit('.', 1)[-1]}{p} {o}" for (t, p, o), f in fate.items() if f == "survived")
    killed = sum(f == "killed" for f in fate.values())
    equivalent = sum(f == "equivalent" for f in fate.values())
    n = len(fate) - equivalent
    return {"killed": killed, "total": len(fate), "equivalent": equivalent,
            "kill_rate": killed / n if n else None, "survivors": survivors}


def summary_line(cm: ClaimMutation) -> str:
    if cm.cannot_mutate:
        return f"{cm.claim}: cannot mutate its derive(): {cm.cannot_mutate}"
    if not cm.total:
        never = cm.derive_never_called
        why = f" (its derive(), {never}, is never called by them)" if never else ""
        return f"{cm.claim}: no derived formula read by its checks could be mutated{why}"
    eq = (f", {cm.equivalent} declared equivalent (raw {100 * cm.raw_kill_rate:.0f} %)"
          if cm.equivalent else "")
    rate = f"{100 * cm.kill_rate:.0f} %" if cm.kill_rate is not None else "n/a"
    return f"{cm.claim}: {cm.killed}/{cm.total - cm.equivalent} mutants killed ({rate}){eq}, {cm.seconds:.1f} s"


__all__ = ["mutate_claim", "ClaimMutation", "CannotMutate", "derive_target", "MutantResult", "derivations", "sites", "summary_line",
           "suite_kills", "plan_mutants", "discover", "run_mutant", "cache_holders"]
