"""The claim registry: every command looks claims up here, so a registered claim appears everywhere."""
from __future__ import annotations

from .base import Claim, UserInputError

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
    _REGISTRY[obj.id] = obj
    return cls_or_obj


def unregister(claim_id: str) -> None:
    _REGISTRY.pop(claim_id, None)


def _load_builtin() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        from . import zfb23  # noqa: F401  (registers on import)


def all_claims() -> list[Claim]:
    _load_builtin()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get(claim_id: str) -> Claim:
    _load_builtin()
    try:
        return _REGISTRY[claim_id]
    except KeyError:
        raise UserInputError(
            f"unknown claim {claim_id!r}; 'icl-proofs list' shows the registered ids"
        ) from None


def select(patterns: list[str] | tuple[str, ...]) -> list[Claim]:
    """Claims matching ids or prefixes (``zfb23`` selects every ``zfb23.*`` claim)."""
    claims = all_claims()
    if not patterns:
        return claims
    out: list[Claim] = []
    for pat in patterns:
        hits = [c for c in claims if c.id == pat or c.id.startswith(pat.rstrip(".") + ".")]
        if not hits:
            raise UserInputError(f"no claim matches {pat!r}; 'icl-proofs list' shows the registered ids")
        out.extend(h for h in hits if h not in out)
    return out
