"""The claim registry: every command looks claims up here, so a registered claim appears everywhere."""
from __future__ import annotations

import importlib

from .base import Claim, Param, UserInputError

_REGISTRY: dict[str, Claim] = {}
_LOADED = False


def register(cls_or_obj):
    """Class decorator (or plain call) that adds a claim to the registry.

    >>> from icl_proofs.claims import Claim, register
    >>> @register
    ... class Demo(Claim):
    ...     id = "demo.example"
    >>> get("demo.example").id
    'demo.example'
    >>> unregister("demo.example")
    """
    obj = cls_or_obj() if isinstance(cls_or_obj, type) else cls_or_obj
    if not obj.id or "." not in obj.id:
        raise ValueError(f"claim id must look like 'paper.name', got {obj.id!r}")
    old = _REGISTRY.get(obj.id)
    if old is not None and _where(old) != _where(obj):  # the same class registered again (a reload) is harmless
        raise ValueError(f"duplicate claim id {obj.id!r}: {_where(old)} and {_where(obj)}")
    for p in obj.params:  # kinds are checked when the Param is built; a claim lists Params only
        if not isinstance(p, Param):
            raise TypeError(f"claim {obj.id}: params must be Param objects, got {p!r}")
    _REGISTRY[obj.id] = obj
    return cls_or_obj


def _where(obj) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def unregister(claim_id: str) -> None:
    _REGISTRY.pop(claim_id, None)


def _load_builtin() -> None:
    """Import the built-in claims, then the user's plugins (so they appear in every command):

    * modules or ``.py`` files listed in ``ICL_PROOFS_PLUGINS`` (separated by ``os.pathsep`` or ``,``),
    * installed packages exposing the entry-point group ``icl_proofs.claims``.
    """
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for paper in builtin_papers():  # every paper package registers its claims on import
            importlib.import_module(f"{__package__}.{paper}")
        load_plugins()


def builtin_papers() -> list[str]:
    """The paper packages shipped in ``icl_proofs.claims`` (each sub-package is one paper: adding a
    paper means adding its folder)."""
    import pkgutil

    from . import __path__ as here

    return sorted(m.name for m in pkgutil.iter_modules(here) if m.ispkg)


def load_plugins() -> list[str]:
    import importlib
    import importlib.metadata
    import importlib.util
    import os
    import re
    from pathlib import Path

    loaded = []
    spec = os.environ.get("ICL_PROOFS_PLUGINS", "")
    for item in filter(None, (x.strip() for x in re.split(r"[,%s]" % re.escape(os.pathsep), spec))):
        try:
            if item.endswith(".py"):
                path = Path(item).expanduser().resolve()
                mod_spec = importlib.util.spec_from_file_location(f"icl_proofs_plugin_{path.stem}", path)
                if mod_spec is None or not path.exists():
                    raise FileNotFoundError(item)
                module = importlib.util.module_from_spec(mod_spec)
                mod_spec.loader.exec_module(module)
            else:
                importlib.import_module(item)
        except Exception as e:  # noqa: BLE001 - reported as a one-line user error
            raise UserInputError(f"cannot load plugin {item!r} from ICL_PROOFS_PLUGINS: "
                                 f"{type(e).__name__}: {e}") from None
        loaded.append(item)
    for ep in importlib.metadata.entry_points(group="icl_proofs.claims"):
        ep.load()
        loaded.append(ep.name)
    return loaded


def all_claims() -> list[Claim]:
    _load_builtin()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get(claim_id: str) -> Claim:
    _load_builtin()
    try:
        return _REGISTRY[claim_id]
    except KeyError:
        raise UserInputError(
            f"unknown claim {claim_id!r}{did_you_mean(claim_id, list(_REGISTRY))}; "
            "'icl-proofs list' shows the registered ids"
        ) from None


def did_you_mean(name: str, known: list[str]) -> str:
    """``" (did you mean 'zfb23.risk'?)"`` for the nearest known id (or paper prefix), else ``""``.

    >>> did_you_mean("zfb23.rsik", ["zfb23.risk", "zfb23.global-min"])
    " (did you mean 'zfb23.risk'?)"
    """
    import difflib

    candidates = list(known) + sorted({k.split(".", 1)[0] for k in known})
    near = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""


def select(patterns: list[str] | tuple[str, ...]) -> list[Claim]:
    """Claims matching ids or prefixes (``zfb23`` selects every ``zfb23.*`` claim)."""
    claims = all_claims()
    if not patterns:
        return claims
    out: list[Claim] = []
    for pat in patterns:
        hits = [c for c in claims if c.id == pat or c.id.startswith(pat.rstrip(".") + ".")]
        if not hits:
            raise UserInputError(f"no claim matches {pat!r}{did_you_mean(pat, [c.id for c in claims])}; "
                                 "'icl-proofs list' shows the registered ids")
        out.extend(h for h in hits if h not in out)
    return out
