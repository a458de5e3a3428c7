"""Every sample payload kept under fixtures/ parses into its model, field for field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from bot.vro.models import (
    ClientCredentials,
    ExecutionDetail,
    GroupRuntimeDetails,
    LicenseUsage,
    MfaCode,
    Page,
    Plan,
    PlanRuntimeDetails,
    RecoveryLocation,
    Scope,
    StepRuntimeDetails,
    TokenResponse,
    VmRuntimeDetails,
)
from tests.vro.conftest import FIXTURES, fixture_json

MODELS: dict[str, Any] = {
    "runtime_plan": PlanRuntimeDetails,
    "runtime_groups": Page[GroupRuntimeDetails],
    "runtime_group_vms": Page[VmRuntimeDetails],
    "runtime_group_steps": Page[StepRuntimeDetails],
    "runtime_vm_steps": Page[StepRuntimeDetails],
    "runtime_step": Page[ExecutionDetail],
    "token": TokenResponse,
    "client_created": ClientCredentials,
    "mfa_code": MfaCode,
    "plan": Plan,
    "plans": Page[Plan],
    "recovery_locations": Page[RecoveryLocation],
    "scopes": Page[Scope],
    "license_usage": LicenseUsage,
}


def test_every_fixture_has_a_model() -> None:
    """No sample is left unchecked."""
    names = {p.stem for p in FIXTURES.glob("*.json")} - {"clients"}
    assert names == set(MODELS)


def _leaf_paths(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        out: set[str] = set()
        for key, item in value.items():
            out |= _leaf_paths(item, f"{prefix}.{key}" if prefix else key)
        return out
    if isinstance(value, list) and value:
        return set().union(*(_leaf_paths(item, f"{prefix}[]") for item in value))
    return {prefix}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fixture_parses_and_keeps_every_field(name: str) -> None:
    """The model keeps every field of the sample under its exact wire name (nothing dropped)."""
    raw = fixture_json(name)
    model: BaseModel = MODELS[name].model_validate(raw)
    dumped = json.loads(model.model_dump_json(by_alias=True))
    assert _leaf_paths(raw) <= _leaf_paths(dumped)


def test_secret_fields_stay_out_of_reprs() -> None:
    """Client secrets, tokens and MFA keys parse but do not show in repr."""
    for name, secret in [
        ("client_created", "AQAAANCMnd8BFdERjHoAwE"),
        ("token", "0G072fREAFX3G2hIOQYiCLxvx"),
        ("mfa_code", "HBIG4FZN5XM7RGZCYWM76EGEYLFZ6OYK"),
    ]:
        assert secret not in repr(MODELS[name].model_validate(fixture_json(name)))
