"""A stateful VRO server speaking REST API v7.21's wire format, for the demo and every test.

Build one with :func:`create_simulator` and plug it into ``httpx`` through
``httpx.ASGITransport(app=sim)``, or serve it with ``vro-bot simulator`` (:mod:`.serve`).
"""

from bot.simulator.app import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    MFA_PASSWORD,
    MFA_TOTP_SECRET,
    MFA_USERNAME,
    Simulator,
    SimulatorConfig,
    create_simulator,
)
from bot.simulator.auth import totp_code
from bot.simulator.estate import Estate, EstateError, default_estate, load_estate, parse_estate

__all__ = [
    "ADMIN_PASSWORD",
    "ADMIN_USERNAME",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "MFA_PASSWORD",
    "MFA_TOTP_SECRET",
    "MFA_USERNAME",
    "Estate",
    "EstateError",
    "Simulator",
    "SimulatorConfig",
    "create_simulator",
    "default_estate",
    "load_estate",
    "parse_estate",
    "totp_code",
]
