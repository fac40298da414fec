"""`bench locomo|beam`: memory-quality benchmarks end to end against a live server;
`bench data pull|list`: the pinned public datasets they read, in the per-user datasets cache."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import click

from honcho_local.cli.common import (
    EXIT_ERROR,
    handle_errors,
    home_option,
    human,
    rich_progress,
    settings_from,
)


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
        elif param.name == "api_key" and value:
            words += [param.opts[0], "…"]  # a key never goes into a report
        elif value not in (None, False, (), param.default):
            flag = param.opts[0] if value is not False else param.secondary_opts[0]
            for item in (value if isinstance(value, tuple) else [value]):
                words += [flag] if item is True else [flag, str(item)]
        elif value is False and param.secondary_opts and param.default is not False:
            words.append(param.secondary_opts[0])
    return " ".join(shlex.quote(w) for w in words)


@click.group()
def bench() -> None:
    """Memory-quality benchmarks (LoCoMo, BEAM) against a live server, and their datasets."""


def run_options(fn: Any) -> Any:
    """The options of `bench locomo` and `bench beam` (one set, so both commands keep the same ones)."""
    for option in reversed(_RUN_OPTIONS):
        fn = option(fn)
    return fn


_RUN_OPTIONS = [
    click.option("--conversations", type=click.IntRange(1), default=None, help="Only the first N conversations."),
    click.option("--sessions", type=click.IntRange(1), default=None,
                 help="Only the first N sessions of each conversation (and the questions about them)."),
    click.option("--questions", type=click.IntRange(1), default=None,
                 help="At most N questions per conversation (a sample stratified by category)."),
    click.option("--answer-questions", type=click.IntRange(1), default=None,
                 help="Answer only N questions per conversation (a sample proportional to the categories); retrieval "
                      "is scored on every question."),
    click.option("--model", default=None, help="Chat model for reasoning and answers (default: the configured one)."),
    click.option("--embedding-model", default=None, help="Embedding model (default: the configured one)."),
    click.option("--baseline", "baselines", multiple=True, type=click.Choice(["naive-rag", "full-context", "none"]),
                 help="Baselines answered in the same run (repeatable; default naive-rag and full-context)."),
    click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("docs/benchmarks"),
                 show_default=True, help="Where the report, plots and per-question JSON go."),
    click.option("--name", default=None, help="Report file name stem (default: dataset, scope and date)."),
    click.option("--retrieval-only", is_flag=True, help="Score retrieval only: no model answers the questions."),
    click.option("--reasoning/--no-reasoning", default=None,
                 help="Run the deriver and summaries (default: on; off with --quick). Messages are embedded either way."),
    click.option("--reasoning-level", default="low", show_default=True, help="Chat reasoning_level for answers."),
    click.option("--judge", default=None, help="Judge model for BEAM rubric items (catalog name or openai:NAME)."),
    click.option("--bench-home", type=click.Path(file_okay=False, path_type=Path), default=None,
                 help="Data home of the benchmark server; reuse one to resume a long run (default: a new temp dir)."),
    click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None,
                 help="Datasets folder (default: $HONCHO_LOCAL_DATASETS, else the per-user cache that "
                      "`honcho-local bench data pull` fills)."),
    click.option("--drain-timeout", default="6h", show_default=True, help="How long to let the worker drain."),
    click.option("--context-tokens", type=click.IntRange(512), default=4096, show_default=True,
                 help="Model context window for answers (full context is skipped when it does not fit)."),
    click.option("--full-context-tokens", type=click.IntRange(512), default=32768, show_default=True,
                 help="Model window of the full-context baseline (capped by the model's own; a conversation "
                      "that does not fit is skipped)."),
    click.option("--server-url", default=None, metavar="URL",
                 help="Run against this Honcho v3 server (another honcho-local, or Honcho) instead of starting "
                      "honcho-local: ingest, wait for its queue to drain, ask (docs/performance.md)."),
    click.option("--api-key", envvar="HONCHO_API_KEY", default=None,
                 help="API key for --server-url (default: $HONCHO_API_KEY); never written to the report."),
    click.option("--quick", is_flag=True,
                 help="One LoCoMo conversation, the fast model (qwen2.5-coder-0.5b), 40 questions, reasoning off "
                      "(deriving a whole conversation takes longer than a quick run: add --reasoning to include it)."),
    click.option("--ab", is_flag=True,
                 help="LoCoMo's fixed A/B subset for reasoning changes: conversation 1 (conv-26), sessions 1-3 "
                      "(58 messages), reasoning on, no answers: retrieval and gold-fact recall only."),
]


def _run_command(dataset: str, doc: str) -> click.Command:
    @bench.command(dataset, help=doc, short_help=doc.split(" end to end")[0] + ", with baselines, report and plots.")
    @run_options
    @home_option
    @click.pass_context
    @handle_errors
    def command(ctx: click.Context, **options: Any) -> None:
        _run(ctx, dataset, **options)

    return command


_RUN_HELP = ("Run the {title} benchmark end to end against a live server and write a markdown report with plots: "
             "evidence recall@k, answer F1 by category, cost and read latency, with naive RAG and full-context "
             "baselines answered in the same run. The data comes from `honcho-local bench data pull {name}`.")


def _run(ctx: click.Context, dataset: str, conversations: int | None, sessions: int | None, questions: int | None,
         answer_questions: int | None, model: str | None,
         embedding_model: str | None, baselines: tuple[str, ...], out: Path, name: str | None,
         retrieval_only: bool, reasoning: bool | None, reasoning_level: str, judge: str | None,
         bench_home: Path | None, data: Path | None, drain_timeout: str, context_tokens: int, full_context_tokens: int,
         quick: bool, ab: bool, server_url: str | None = None, api_key: str | None = None) -> None:
    from datetime import datetime, timezone

    from honcho_local.bench.config import BenchConfig, slug, write_json
    from honcho_local.bench.report import plotting_available, write_report
    from honcho_local.bench.runner import run

    if ab:
        conversations, sessions, retrieval_only, reasoning = 1, 3, True, True
    if quick:
        conversations, questions = conversations or 1, questions or 40
        model = model or "qwen2.5-coder-0.5b"
        reasoning = False if reasoning is None else reasoning
    config = BenchConfig(
        dataset=dataset, conversations=conversations, sessions=sessions, questions=questions,
        model=model or settings_from(ctx).reasoning_model, embedding_model=embedding_model,
        baselines=() if "none" in baselines else (baselines or ("naive-rag", "full-context")),
        answers=not retrieval_only, reasoning=True if reasoning is None else reasoning, reasoning_level=reasoning_level, judge=judge,
        out=out, home=bench_home, data=data, drain_timeout=_duration(drain_timeout), context_tokens=context_tokens,
        full_context_tokens=full_context_tokens, answer_questions=answer_questions, server_url=server_url,
        api_key=api_key)

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
    if not plotting_available():
        click.echo("no plots: install the bench extra for them (pip install 'honcho-local[bench]')")
    for retriever, r in results["recall"].items():
        if r["questions"]:
            click.echo(f"recall@10 {retriever:14s} {r['share@10']:.3f}  (all@10 {r['all@10']:.3f}, n={r['questions']})")
    for system, a in results["answers"].items():
        click.echo(f"F1 {system:14s} {a['f1']:.3f}  (EM {a['em']:.3f}, n={a['questions']})")
    gold = results.get("gold_facts")
    if gold and gold["facts"]:
        click.echo(f"gold facts {gold['facts']}: recall {human_share(gold['recall'])}, attribution precision "
                   f"{human_share(gold['attribution_precision'])}, date accuracy {human_share(gold['date_accuracy'])} "
                   f"(n={gold['dated_recalled']}), {gold['conclusions']} conclusions")
    cost = results.get("reasoning") or {}
    if cost.get("model_seconds_per_message") is not None:
        click.echo(f"reasoning: {cost['model_seconds_per_message']:.2f} model-seconds and "
                   f"{cost['tokens_per_message']:.0f} tokens per message")


def human_share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


locomo = _run_command("locomo", _RUN_HELP.format(title="LoCoMo", name="locomo"))
beam = _run_command("beam", _RUN_HELP.format(title="BEAM (100K bucket)", name="beam"))


@bench.command("unified")
@click.argument("cases", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--server-url", default=None, help="Run against this server (default: start one on a fresh temporary "
              "home with the settings of this environment).")
@click.option("--api-key", default=None, help="An admin or workspace key for a server with auth on.")
@click.option("--judge", "judge_model", default=None, help="A chat model (catalog name or openai:NAME) for "
              "`llm_judge` assertions; without one they count as unjudged.")
@click.option("--only", multiple=True, help="Only the cases with this name (repeatable).")
def unified(cases: Path, server_url: str | None, api_key: str | None, judge_model: str | None,
            only: tuple[str, ...]) -> None:
    """Run Honcho's behaviour cases (its tests/unified JSON format) against a server: one fresh workspace per
    case, raw v3 HTTP; prints a table and exits 1 when a case failed (docs/benchmarks.md)."""
    from honcho_local.bench import unified as runner
    from honcho_local.bench.server import start_server

    found = [(n, c) for n, c in runner.load_cases(cases) if not only or n in only]
    if not found:
        raise click.UsageError(f"no case files (*.json) in {cases}" + (f" named {', '.join(only)}" if only else ""))
    judge = None
    if judge_model:
        from honcho_local.config import load_settings
        from honcho_local.llm import build_llm

        judge = runner.model_judge(build_llm(load_settings(reasoning_model=judge_model)))
    server = None if server_url else start_server(timeout=300)
    run = runner.Runner(server_url or server.url, api_key=api_key, judge=judge)  # type: ignore[union-attr]
    results = []
    try:
        for name, case in found:
            click.echo(f"{name} ...", err=True)
            results.append(run.run(name, case))
    finally:
        run.close()
        if server is not None:
            server.stop()
    click.echo(runner.summary(results))
    sys.exit(1 if any(r.status == "failed" for r in results) else 0)


@bench.group("data")
def data() -> None:
    """Fetch and check the public benchmark datasets (pinned files, sha256-verified)."""


_DATA_DIR = click.option("--data", "folder", type=click.Path(file_okay=False, path_type=Path), default=None,
                         help="Datasets folder (default: $HONCHO_LOCAL_DATASETS, else the per-user cache).")


@data.command("pull")
@click.argument("dataset", type=click.Choice(["locomo", "beam"]))
@click.option("--from", "source", default=None, metavar="DIR|URL",
              help="Take the files from a folder (or base URL) holding the datasets layout, e.g. a copy made on a "
                   "machine with internet, instead of GitHub. Every file is still sha256-verified.")
@_DATA_DIR
@home_option
@handle_errors
def data_pull(dataset: str, source: str | None, folder: Path | None) -> None:
    """Fetch a dataset's pinned files from their public GitHub repositories into the datasets folder,
    resuming a partial download and verifying each sha256."""
    from honcho_local.bench.data import datasets_dir
    from honcho_local.bench.manifest import DATASETS
    from honcho_local.bench.pull import pull

    spec = DATASETS[dataset]
    root = datasets_dir(folder)
    origin = source or ", ".join(f"github.com/{s.split('@')[0]} @ {s.split('@')[1][:7]}" for s in spec.sources)
    click.echo(f"{dataset}: {len(spec.files)} files, {human(spec.size)}, licence {spec.licence}; "
               f"from {origin} into {root / dataset}")
    bar, update = rich_progress(in_bytes=True)
    with bar:
        result = pull(spec, root, source, progress=lambda what, done, total: update(dataset, done, total))
    kept = f" ({len(result.already)} already there)" if result.already else ""
    click.echo(f"{dataset}: {len(result.fetched)} files fetched, {human(result.bytes_fetched)}{kept}; "
               f"all {len(spec.files)} verified (sha256) in {root}")


@data.command("list")
@_DATA_DIR
@home_option
@handle_errors
def data_list(folder: Path | None) -> None:
    """What is in the datasets folder: files present, size, sha256 check, for each dataset."""
    from honcho_local.bench.data import INCOMPLETE, datasets_dir, pull_command
    from honcho_local.bench.manifest import DATASETS
    from honcho_local.bench.pull import status

    root = datasets_dir(folder)
    click.echo(f"datasets folder: {root}")
    click.echo(f"{'DATASET':<8}  {'FILES':>7}  {'SIZE':>8}  {'SHA256':<10}  LICENCE")
    for name, spec in DATASETS.items():
        rows = status(spec, root)
        present = [r for r in rows if r.state != "missing"]
        bad = [r for r in rows if r.state == "bad sha256"]
        unfinished = (root / name / INCOMPLETE).exists()
        check = "-" if not present else f"{len(bad)} bad" if bad else "ok"
        size = human(sum(r.path.stat().st_size for r in present)) if present else "-"
        click.echo(f"{name:<8}  {len(present):>3}/{len(rows):<3}  {size:>8}  {check:<10}  {spec.licence}")
        if bad or unfinished or len(present) < len(rows):
            what = ", ".join(str(r.file.path) for r in bad[:3]) + (" wrong; " if bad else "")
            click.echo(f"          {what}run `{pull_command(name, root)}`")
