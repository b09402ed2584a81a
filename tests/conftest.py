"""Shared fixtures (kept minimal)."""
from __future__ import annotations

import pytest


def pytest_configure(config):
    # a check whose result names another check or route than its Check is a bug: an error in every test
    config.addinivalue_line("filterwarnings", "error::icl_proofs.claims.base.CheckIdentityWarning")


@pytest.fixture
def register_claim(monkeypatch):
    """Register claims for one test and unregister them afterwards.

    The built-in claims are not imported (``registry._LOADED`` is pretended true for the test), so
    tests using this fixture see only what they register plus whatever was loaded before.
    """
    from icl_proofs.claims import registry

    monkeypatch.setattr(registry, "_LOADED", True)
    added: list[str] = []

    def _register(cls_or_obj):
        registry.register(cls_or_obj)
        added.append(cls_or_obj.id)
        return cls_or_obj

    yield _register
    for claim_id in added:
        registry.unregister(claim_id)
