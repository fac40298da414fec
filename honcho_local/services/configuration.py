"""Resolved configuration for reasoning: settings → workspace → session → message (recursive merge
that skips nulls), legacy keys normalised, and the effective observation rules of §1.3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from honcho_local.config import Settings


@dataclass(frozen=True)
class Resolved:
    reasoning_enabled: bool
    custom_instructions: str | None
    summary_enabled: bool
    short_every: int
    long_every: int
    card_use: bool
    card_create: bool


def _normalise(config: dict[str, Any] | None) -> dict[str, Any]:
    """Accept Honcho's legacy keys: `deriver.enabled` and `skip_deriver` become `reasoning.enabled`."""
    config = dict(config or {})
    reasoning = dict(config.get("reasoning") or {})
    if isinstance(config.get("deriver"), dict) and "enabled" in config["deriver"] and "enabled" not in reasoning:
        reasoning["enabled"] = bool(config["deriver"]["enabled"])
    if config.get("skip_deriver") is True and "enabled" not in reasoning:
        reasoning["enabled"] = False
    if reasoning:
        config["reasoning"] = reasoning
    return config


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def defaults(settings: Settings) -> dict[str, Any]:
    return {
        "reasoning": {"enabled": settings.reasoning_enabled, "custom_instructions": None},
        "summary": {"enabled": settings.summary_enabled, "messages_per_short_summary": settings.summary_short_every,
                    "messages_per_long_summary": settings.summary_long_every},
        "peer_card": {"use": True, "create": True},
    }


def resolve(settings: Settings, *levels: dict[str, Any] | None) -> Resolved:
    merged = defaults(settings)
    for level in levels:
        merged = _merge(merged, _normalise(level))
    reasoning, summary, card = merged["reasoning"], merged["summary"], merged["peer_card"]
    short = int(summary.get("messages_per_short_summary") or settings.summary_short_every)
    long_ = int(summary.get("messages_per_long_summary") or settings.summary_long_every)
    return Resolved(
        reasoning_enabled=bool(reasoning.get("enabled", True)),
        custom_instructions=reasoning.get("custom_instructions"),
        summary_enabled=bool(summary.get("enabled", True)),
        short_every=max(1, short), long_every=max(1, long_),
        card_use=bool(card.get("use", True)), card_create=bool(card.get("create", True)))


def effective_observe_me(peer_config: dict[str, Any] | None, member: dict[str, Any] | None) -> bool:
    """Session-level `observe_me` overrides the peer's; the default is True."""
    if member is not None and member.get("observe_me") is not None:
        return bool(member["observe_me"])
    if peer_config and peer_config.get("observe_me") is not None:
        return bool(peer_config["observe_me"])
    return True


def observers_for(observed: str, observe_me: bool, members: list[dict[str, Any]]) -> list[str]:
    """Who learns from `observed`'s messages: itself, plus active members with observe_others."""
    if not observe_me:
        return []
    others = [m["peer_id"] for m in members
              if m.get("observe_others") and m.get("left_at") is None and m["peer_id"] != observed]
    return [observed, *others]
