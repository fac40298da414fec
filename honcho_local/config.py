"""Typed settings: defaults < `config.toml` in the data home < environment variables.

Every setting `name` is read from the environment as `HONCHO_LOCAL_<NAME>` or, for Honcho-style
compatibility, as plain `<NAME>` (the prefixed form wins). The data home itself comes from
`--home`, then `HONCHO_LOCAL_HOME`, then the platform's user data directory. Nothing here reads the
environment at import time: `load_settings()` is called once, by the entry point.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from honcho_local import localnet
from honcho_local.errors import InvalidInput

DB_FILENAME = "honcho.duckdb"
CONFIG_FILENAME = "config.toml"


class Settings(BaseModel):
    """All runtime settings of honcho-local. Field descriptions feed the README settings table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = Field(description="Data home: holds the DuckDB file, the queue file and config.toml.")
    host: str = Field("127.0.0.1", description="Address `serve` binds to.")
    port: int = Field(8000, ge=0, le=65535, description="Port `serve` listens on.")
    allow_remote: bool = Field(False, description="Let `serve` bind a non-loopback address (`--allow-remote`); "
                               "without it `serve` refuses such an address. It must also have auth on "
                               "(`auth_use_auth`) or `insecure_no_auth`.")
    auth_use_auth: bool = Field(False, description="Require an API key (Honcho's scoped JWT, `Authorization: Bearer "
                                "<key>`) on every route but /health and the docs (Honcho's `AUTH_USE_AUTH`; in "
                                "config.toml also `use_auth` in an `[auth]` table). Needs `auth_jwt_secret`. See "
                                "docs/security.md.")
    auth_jwt_secret: str | None = Field(None, description="Secret that signs and verifies API keys (HS256; Honcho's "
                                        "`AUTH_JWT_SECRET`, `jwt_secret` in an `[auth]` table): keys minted by "
                                        "Honcho with the same secret work here and the other way round. At least 32 "
                                        "characters when auth is on.")
    insecure_no_auth: bool = Field(False, description="Let `serve` bind a non-loopback address with auth off "
                                   "(`--insecure-no-auth`): anyone who can reach it can read and change every memory.")
    allowed_hosts: list[str] = Field([], description="Host names (no port) a request's `Host` header may name "
                                     "besides loopback (`localhost`, `127.0.0.1`, `[::1]`) and the bound address, "
                                     "e.g. a name a reverse proxy forwards; other names are refused with 421 "
                                     "(DNS rebinding defence). `*` turns the check off. Comma-separated in the "
                                     "environment.")
    cors_origins: list[str] = Field(list(localnet.DEFAULT_CORS_ORIGINS), description="Origins of web pages that "
                                    "may call the API from a browser (CORS) and change data; `*` as the port "
                                    "means any port, `*` alone any origin. Pages from other origins get no CORS "
                                    "headers and their writes are refused (403). Comma-separated in the "
                                    "environment.")
    mcp_default_workspace: str = Field("default", pattern=r"^[a-zA-Z0-9_-]{1,512}$", description="Workspace the "
                                       "MCP tools (`/mcp`, `honcho-local mcp`) use when a call names none and the "
                                       "connection sends no `X-Honcho-Workspace-ID` header.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    http_threads: int = Field(0, ge=0, le=256, description="Threads that run request handlers that query "
                              "DuckDB or wait (lists, cold reads, resource writes) and message searches; 0 means "
                              "cores + 1. Cached context, representation, card and conclusion-query reads run on "
                              "the event loop; chat's model calls and message writes do not use these threads "
                              "either. More threads than the GIL can feed only interleave requests.")
    max_message_size: int = Field(25_000, ge=1, le=1_000_000, description="Largest message content, in characters.")
    get_context_max_tokens: int = Field(100_000, ge=1, description="Upper bound of `tokens` on context reads.")
    durability: Literal["full", "process"] = Field(
        "full", description="`full`: every acknowledged write is fsynced (survives power loss); `process`: "
        "survives a crash of the server process (kill -9) but not of the OS, with higher write throughput.")
    write_batch_max: int = Field(1_000, ge=1, description="Most events one group commit of the writer thread takes.")
    reasoning_enabled: bool = Field(True, description="Run the deriver (global default of `reasoning.enabled`).")
    reasoning_model: str = Field("qwen2.5-coder-1.5b", description="Catalog name or GGUF path of the primary chat model.")
    embedding_model: str = Field("all-minilm-l6-v2", description="Catalog name or GGUF path of the embedding model; `none` turns embeddings off (search and conclusion queries become lexical/recency only).")
    models_dir: Path | None = Field(None, description="Where model files live (default: `models/` in the platform's "
                                    "user cache directory, `~/.cache/honcho-local/models` on Linux, shared by every "
                                    "data home and install).")
    model_threads: int = Field(0, ge=0, description="llama.cpp threads; 0 means one per core.")
    model_context: int = Field(4096, ge=512, description="llama.cpp context window for the chat model.")
    model_timeout: float = Field(300.0, gt=0, description="Seconds one model call may take before it fails.")
    model_free_json: bool = Field(True, description="Generate the local model's JSON answers without a grammar first "
                                  "(faster), and under the JSON-schema grammar only when one does not validate.")
    offline: bool = Field(False, description="Refuse every model download.")
    openai_api_key: str | None = Field(None, description="API key of the optional OpenAI-compatible fallback.")
    openai_base_url: str | None = Field(None, description="Base URL of the optional OpenAI-compatible fallback.")
    fallback_model: str | None = Field(None, description="Model name to ask the fallback endpoint for.")
    worker_concurrency: int = Field(1, ge=1, le=64, description="Work units reasoned in parallel.")
    worker_poll_interval: float = Field(10.0, gt=0, description="Seconds between safety-net sweeps of lagging work units.")
    reasoning_batch_size: int = Field(1024, ge=64, description="Token budget of the messages one deriver call reads.")
    reasoning_context_chars: int = Field(600, ge=50, description="Characters of another speaker's message the deriver "
                                         "reads as context (a longer one is cut; an assistant's long answers would "
                                         "otherwise fill its window).")
    reasoning_deductions: bool = Field(True, description="Ask the deriver for deductive conclusions with premises.")
    reasoning_max_facts: int = Field(8, ge=1, le=32, description="Most facts one deriver call may return.")
    summary_enabled: bool = Field(True, description="Write session summaries (global default of `summary.enabled`).")
    summary_short_every: int = Field(20, ge=1, description="Messages between short summaries (default of `summary.messages_per_short_summary`).")
    summary_long_every: int = Field(60, ge=1, description="Messages between long summaries (default of `summary.messages_per_long_summary`).")
    peer_card_every: int = Field(20, ge=1, description="New conclusions about a peer before its peer card and profile are refreshed.")
    dream_auto: bool = Field(True, description="Dream without being asked (Honcho's automatic trigger): an observer's view of a peer is consolidated once it holds `dream_min_conclusions` new explicit conclusions, `dream_min_hours` after its last dream, in a workspace without new messages for `dream_idle_minutes`. A workspace's `dream.enabled: false` turns it off there.")
    dream_min_conclusions: int = Field(50, ge=1, description="New explicit conclusions about a peer since its last dream before an automatic dream (Honcho: 50).")
    dream_min_hours: float = Field(8.0, ge=0, description="Hours since a pair's last dream before an automatic one (Honcho: 8).")
    dream_idle_minutes: float = Field(60.0, ge=0, description="Minutes without a new message in the workspace before an automatic dream (Honcho: 60).")
    dream_max_decisions: int = Field(10, ge=0, description="Most model decisions one `omni` dream makes (knowledge updates: a later conclusion that fills one named slot, such as where the peer lives or a weekly target, with another value; inductions with `dream_inductions`), the most similar pairs first; 0 turns that part of a dream off. Measured on LoCoMo and BEAM-100K in docs/decisions/008-dream-consolidation.md.")
    dream_inductions: bool = Field(False, description="Let an `omni` dream also ask the model for the lasting patterns (inductions) in groups of similar conclusions. Off by default: none of the 100 patterns the default 1.5B model named on LoCoMo passed the grounding checks (docs/decisions/008-dream-consolidation.md).")
    dream_check_seconds: float = Field(300.0, gt=0, description="Seconds between the worker's looks for pairs due an automatic dream.")
    reasoning_retry_backoff: float = Field(30.0, gt=0, description="Seconds before a failed work unit is retried (doubling per further failure, at most an hour).")
    reasoning_retries: int = Field(3, ge=1, le=10, description="Attempts of one reasoning call before the unit is marked failed.")
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics at `/metrics`.")
    read_cache_size: int = Field(20_000, ge=0, description="Entries of the read cache (representations, cards, "
                                 "summaries, recent messages, conclusion matrices); an entry is dropped by the first "
                                 "commit that changes what it was read from; 0 disables it.")

    @field_validator("allowed_hosts", "cors_origins", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        """The environment gives one string: comma-separated entries."""
        return [part for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        return [localnet.check_host_entry(entry) for entry in value]

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        return [localnet.check_origin_entry(entry) for entry in value]

    @model_validator(mode="after")
    def _check_auth(self) -> Settings:
        if self.auth_use_auth and not self.auth_jwt_secret:
            raise ValueError("auth_use_auth is on but auth_jwt_secret is empty: set AUTH_JWT_SECRET (e.g. the output "
                             "of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
        if self.auth_use_auth and len(self.auth_jwt_secret or "") < 32:
            raise ValueError("auth_jwt_secret must be at least 32 characters (an HS256 key shorter than its hash is "
                             "guessable offline from any key it signed)")
        return self

    @property
    def db_path(self) -> Path:
        return self.home / DB_FILENAME

    @property
    def resolved_models_dir(self) -> Path:
        """The models folder in use: the `models_dir` setting, else the per-user cache."""
        return self.models_dir.expanduser() if self.models_dir else default_models_dir()


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("honcho-local", appauthor=False))


def default_models_dir() -> Path:
    """One model cache per user (the platform's cache directory), whatever the data home or install mode."""
    return Path(platformdirs.user_cache_dir("honcho-local", appauthor=False)) / "models"


def resolve_home(cli_home: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path:
    if cli_home:
        return Path(cli_home).expanduser()
    if env.get("HONCHO_LOCAL_HOME"):
        return Path(env["HONCHO_LOCAL_HOME"]).expanduser()
    return default_home()


def _env_value(name: str, env: Mapping[str, str]) -> str | None:
    prefixed = f"HONCHO_LOCAL_{name.upper()}"
    if prefixed in env:
        return env[prefixed]
    return env.get(name.upper())


def _flat_toml(data: dict[str, Any]) -> dict[str, Any]:
    """config.toml's keys, lowercased; Honcho's `[auth]` table (`USE_AUTH`, `JWT_SECRET`) read as `auth_<key>`."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key.lower() == "auth" and isinstance(value, dict):
            flat.update({f"auth_{sub.lower()}": inner for sub, inner in value.items()})
        else:
            flat[key.lower()] = value
    return flat


def settings_sources(home: Path, env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The merged raw values and, per key, where each came from ("default", "config.toml", "env")."""
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    toml_path = home / CONFIG_FILENAME
    if toml_path.exists():
        try:
            data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"{toml_path}: not valid TOML: {exc}") from exc
        for key, value in _flat_toml(data).items():
            values[key] = value
            origin[key] = "config.toml"
    for name in Settings.model_fields:
        if name == "home":
            continue
        raw = _env_value(name, env)
        if raw is not None and raw != "":
            values[name] = raw
            origin[name] = "env"
    return values, origin


def load_settings(
    home: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings once: defaults < config.toml < environment < explicit overrides."""
    env = os.environ if env is None else env
    home_path = resolve_home(home, env)
    values, _ = settings_sources(home_path, env)
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["home"] = home_path
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidInput(f"invalid settings: {problems}") from exc


def settings_table_markdown() -> str:
    """The README settings table, generated from the field descriptions (a test keeps them in sync)."""
    lines = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    for name, info in Settings.model_fields.items():
        if name == "home":
            env, default = "`HONCHO_LOCAL_HOME` (or `--home`)", "platform user data dir"
        else:
            env = f"`HONCHO_LOCAL_{name.upper()}` or `{name.upper()}`"
            default = ("unset" if info.default is None else "none" if info.default == [] else
                       ", ".join(f"`{item}`" for item in info.default) if isinstance(info.default, list)
                       else f"`{info.default}`")
        lines.append(f"| `{name}` | {env} | {default} | {info.description} |")
    return "\n".join(lines)
