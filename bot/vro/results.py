"""VRO's words for how an item ended, read for what they mean (pure).

Only ``Success`` and ``Warning`` are documented as results (``Error`` presumed): a ``Failed``,
``Errors`` or ``CompletedWithErrors`` must not read as a success anywhere the bot shows one,
in a thread, on a card or in ``/vro status``.
"""

from __future__ import annotations

from typing import Final

_ERROR_RESULTS: Final = frozenset(
    {"error", "errors", "failed", "failure", "fail", "completedwitherror", "completedwitherrors"}
)
_WARNING_RESULTS: Final = frozenset(
    {"warning", "warnings", "completedwithwarning", "completedwithwarnings", "successwithwarnings"}
)
_SUCCESS_RESULTS: Final = frozenset({"success", "succeeded", "successful", "ok", "completed", "complete"})


def word_of(value: str | None) -> str:
    """``value`` lowercased with only its letters and digits (``Completed With Errors`` ->
    ``completedwitherrors``)."""
    return "".join(ch for ch in (value or "").lower() if ch.isalnum())


def normalize_result(result: str | None) -> str | None:
    """VRO's result as ``Success`` / ``Warning`` / ``Error`` when its spelling says which;
    anything else (``Undefined``, an unknown word) as it came."""
    word = word_of(result)
    if word in _ERROR_RESULTS:
        return "Error"
    if word in _WARNING_RESULTS:
        return "Warning"
    if word in _SUCCESS_RESULTS:
        return "Success"
    return result
