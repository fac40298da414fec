"""Benchmark reports: a markdown file plus PNG plots (matplotlib, the `bench` extra) per run, under `--out`.

Plots: evidence recall@k curves per retriever, recall@10 and answer F1 per category, and cost
(model-seconds per question) against F1. Every report states the command line, the models, the
package version, the machine and the date.
"""

from __future__ import annotations

import importlib.util
import math
import os
import platform
from pathlib import Path
from typing import Any

from honcho_local import __version__


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def plotting_available() -> bool:
    """Plots need matplotlib, the optional `honcho-local[bench]` extra; without it reports are text only."""
    return importlib.util.find_spec("matplotlib") is not None


def plots(results: dict[str, Any], out: Path, stem: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names: list[str] = []
    recall = {k: v for k, v in results["recall"].items() if v["questions"]}
    if recall:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, r in recall.items():
            ax.plot([5, 10, 20], [r["share@5"], r["share@10"], r["share@20"]], marker="o", label=name)
        ax.set_xlabel("k (messages retrieved)")
        ax.set_ylabel("evidence recall@k (share of evidence turns)")
        ax.set_xticks([5, 10, 20])
        ax.set_ylim(0, 1)
        ax.grid(alpha=.3)
        ax.legend()
        ax.set_title(f"{results['config']['dataset']}: evidence recall@k")
        names.append(_save(fig, out, f"{stem}-recall-at-k.png"))
        names.append(_bars({n: r["by_category"] for n, r in recall.items()}, "evidence recall@10",
                           f"{results['config']['dataset']}: recall@10 per category", out, f"{stem}-recall-by-category.png"))
    answers = {k: v for k, v in results["answers"].items() if v["questions"]}
    if answers:
        names.append(_bars({n: a["by_category"] for n, a in answers.items()}, "token F1",
                           f"{results['config']['dataset']}: answer F1 per category", out, f"{stem}-f1-by-category.png"))
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, a in answers.items():
            x = a["seconds_per_question"]
            if x is not None and not math.isnan(x):
                ax.scatter([x], [a["f1"]], s=60)
                ax.annotate(name, (x, a["f1"]), textcoords="offset points", xytext=(5, 5))
        ax.set_xlabel("model-seconds per question (answering)")
        ax.set_ylabel("token F1")
        ax.set_ylim(0, max(0.1, max(a["f1"] for a in answers.values()) * 1.3))
        ax.grid(alpha=.3)
        ax.set_title("cost vs accuracy")
        names.append(_save(fig, out, f"{stem}-cost-vs-f1.png"))
    return names


def _bars(data: dict[str, dict[str, float]], ylabel: str, title: str, out: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    cats = sorted({c for d in data.values() for c in d})
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(cats) + 2), 4))
    width = 0.8 / max(len(data), 1)
    for i, (system, values) in enumerate(data.items()):
        xs = [j + i * width for j in range(len(cats))]
        ax.bar(xs, [0 if math.isnan(values.get(c, float("nan"))) else values.get(c, 0) for c in cats], width,
               label=system)
    ax.set_xticks([j + width * (len(data) - 1) / 2 for j in range(len(cats))])
    ax.set_xticklabels(cats, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _save(fig, out, name)


def _save(fig: Any, out: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return name


def _time_line(results: dict[str, Any]) -> str:
    p = results.get("phases")
    if not p or p["invocations"] <= 1:
        return (f"- Time: ingest {results['ingest_seconds']:.0f} s, worker drain {results['drain_seconds']:.0f} s, "
                f"whole run {results['wall_seconds'] / 60:.1f} min")
    sources = "; ".join(p.get("reconstructed_from", []))
    rebuilt = (f"; {p['reconstructed']} of them recorded nothing and were reconstructed from {sources}"
               if p.get("reconstructed") else "")
    return (f"- Time, over {p['invocations']} invocations on one bench home (the first started "
            f"{p['first_started']}{rebuilt}): ingest {p['ingest_seconds']:.0f} s, worker drain "
            f"{p['drain_seconds'] / 3600:.2f} h, answering {p['answer_seconds'] / 3600:.2f} h, "
            f"in all {p['wall_seconds'] / 3600:.2f} h")


def markdown(results: dict[str, Any], command: str, images: list[str]) -> str:
    c = results["config"]
    lines = [f"# {c['dataset']} benchmark: {', '.join(results['conversations'][:3])}"
             f"{' …' if len(results['conversations']) > 3 else ''}", "",
             f"- Date: {results['date']}", f"- Command: `{command}`",
             f"- honcho-local {__version__}; chat model `{c['model']}`; embedding model "
             f"`{c['embedding_model'] or 'all-minilm-l6-v2 (default)'}`; reasoning "
             f"{'on' if c['reasoning'] else 'off'}; chat reasoning_level `{c['reasoning_level']}`",
             f"- Machine: {machine()}",
             *([f"- Server: {c['server_url']}, given with `--server-url` (not started by the run: its own models "
                f"derived and answered `chat`; the model above answered the baselines and context+model)"]
               if c.get("server_url") else []),
             f"- Data: {len(results['conversations'])} conversation(s), {results['messages']:,} messages "
             f"({results['messages_posted']:,} ingested in this run, {results['truncated']} truncated to 25,000 "
             f"characters), {results['questions']} questions scored: "
             + ", ".join(f"{k} {v}" for k, v in results["counts"].items())
             + (f"; models answered a sample of {c['answer_questions']} per conversation, drawn in proportion to "
                f"the categories (retrieval is scored on every question)" if c.get("answer_questions") else ""),
             _time_line(results), ""]
    r = results["reasoning"]
    lines += ["## Cost of reasoning (ingest)", "",
              "| model tokens | model-seconds | tokens / message | model-seconds / message | conclusions |",
              "|---|---|---|---|---|",
              f"| {r['tokens']:,.0f} | {r['model_seconds']:,.0f} | {_f(r['tokens_per_message'], 1)} | "
              f"{_f(r['model_seconds_per_message'], 2)} | {r['conclusions']:,.0f} |", ""]
    if r.get("by_task"):
        lines += ["| task | calls | failed | prompt tokens | completion tokens | model-seconds |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {task} | {t['calls']:,} | {t['failed']:,} | {t['prompt_tokens']:,} | {t['completion_tokens']:,} | "
                  f"{t['seconds']:,.0f} |" for task, t in r["by_task"].items()]
        lines += ["", "Counted from the store's record of every worker model call (`reasoning_runs`), over all "
                  "invocations on this bench home.", ""]
    if r.get("note"):
        lines += [f"Note: {r['note']}.", ""]
    recall = {k: v for k, v in results["recall"].items() if v["questions"]}
    if recall:
        cats = list(next(iter(recall.values()))["by_category"])
        lines += ["## Evidence recall", "",
                  "Share of a question's evidence turns among the top k retrieved messages (mean over questions; "
                  "`all@10`: share of questions with every evidence turn in the top 10). `honcho`: what chat "
                  "retrieves (message search with every fifth slot given to a source message of the retrieved "
                  "conclusions that search did not rank above it, `POST …/peers/{p}/recall`); `honcho-search`: "
                  "workspace message search alone; `conclusions`: the source turns of the subject's 30 nearest "
                  "conclusions alone (`POST …/conclusions/query`). Baselines, built in the benchmark process over "
                  "the same document text as the product's indexes (BM25 over \"date speaker: content\", "
                  "embeddings of \"speaker: content\"): `bm25+dense-w`: BM25 and dense fused with the product's "
                  "RRF constants (k = 20, BM25 weighted 1.5); `bm25+dense`: plain RRF (k = 60); `bm25`; `dense`: "
                  "embedding top-k (naive RAG's retrieval).", "",
                  "| retriever | questions | @5 | @10 | @20 | all@10 | " + " | ".join(f"@10 {k}" for k in cats) + " |",
                  "|---|---|---|---|---|---|" + "---|" * len(cats)]
        for name, v in recall.items():
            lines.append(f"| {name} | {v['questions']} | {_f(v['share@5'])} | **{_f(v['share@10'])}** | "
                         f"{_f(v['share@20'])} | {_f(v['all@10'])} | "
                         + " | ".join(_f(v["by_category"][k]) for k in cats) + " |")
        bases = [b for b in ("bm25+dense-w", "bm25+dense", "bm25", "dense") if b in recall]
        best = max(bases, key=lambda b: recall[b]["share@10"], default=None)
        if "honcho" in recall and best and recall[best]["share@10"]:
            lead = recall["honcho"]["share@10"] - recall[best]["share@10"]
            lines += ["", f"recall@10 honcho against the best baseline ({best}): {lead:+.3f} "
                          f"({recall['honcho']['share@10'] / recall[best]['share@10']:.2f}×)"]
        lines.append("")
    lines += gold_fact_lines(results.get("gold_facts"))
    answers = {k: v for k, v in results["answers"].items() if v["questions"]}
    if answers:
        cats = list(next(iter(answers.values()))["by_category"])
        lines += ["## Answers", "",
                  "Token F1 and exact match against the gold answers (LoCoMo's normalisation, no stemming). "
                  "`chat`: `POST …/peers/{p}/chat`; `context+model`: the peer context (representation and card "
                  "for the question) given to the same model; `naive-rag`: dense top-"
                  f"{c['top_k']} turns to the same model; `full-context`: the whole conversation.", "",
                  "| system | questions | F1 | EM | s / question | tokens / question | "
                  + " | ".join(f"F1 {k}" for k in cats) + " |", "|---|---|---|---|---|---|" + "---|" * len(cats)]
        for name, a in answers.items():
            lines.append(f"| {name} | {a['questions']} | **{_f(a['f1'])}** | {_f(a['em'])} | "
                         f"{_f(a['seconds_per_question'], 2)} | {_f(a['tokens_per_question'], 0)} | "
                         + " | ".join(_f(a["by_category"][k]) for k in cats) + " |")
        if "chat" in answers:
            for other in ("naive-rag", "full-context"):
                if other in answers and answers[other]["f1"]:
                    lines.append(f"\nF1 ratio chat / {other}: {answers['chat']['f1'] / answers[other]['f1']:.2f}")
        lines.append("")
    if results.get("judged"):
        lines += ["## Rubric (judge model)", "", "| system | questions | score |", "|---|---|---|"]
        lines += [f"| {s} | {j['questions']} | {_f(j['score'])} |" for s, j in results["judged"].items()]
        lines.append("")
    elif c["dataset"] == "beam" and c["answers"]:
        lines += ["Rubric: not judged (no `--judge` model configured).", ""]
    for what, why in results.get("skipped", {}).items():
        lines += [f"Skipped `{what}`: {why}.", ""]
    lat = results["latency_ms"]
    if lat:
        lines += ["## Read latency (client-side, ms)", "", "| read | n | p50 | p95 |", "|---|---|---|---|"]
        lines += [f"| {k} | {v['n']} | {_f(v['p50'], 1)} | {_f(v['p95'], 1)} |" for k, v in lat.items()]
        lines.append("")
    if images:
        lines += ["## Plots", ""] + [f"![{i}]({i})" for i in images] + [""]
    return "\n".join(lines)


def write_report(results: dict[str, Any], out: Path, stem: str, command: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    images = plots(results, out, stem) if plotting_available() else []
    path = out / f"{stem}.md"
    path.write_text(markdown(results, command, images))
    return path


def gold_fact_lines(gold: dict[str, Any] | None) -> list[str]:
    """The gold-fact section of a LoCoMo report (honcho_local/bench/goldfacts.py)."""
    if not gold or not gold.get("facts"):
        return []
    v = gold["date_verdicts"]
    lines = ["## Gold-fact recall (no answer model)", "",
             "The worker's conclusions scored against LoCoMo's annotated per-session facts (`observation`). A gold "
             f"fact is recalled when a conclusion about that speaker matches it ({gold['rule']}). Attribution: of "
             "the conclusions matching a gold fact of either speaker, the share filed under that fact's speaker. "
             "Dates: of the recalled facts whose words name a checkable time (\"last year\", \"yesterday\"), the "
             "share with a matching conclusion dated inside it.", "",
             "| gold facts | conclusions | recall | cites evidence | attribution precision | dated (recalled) | "
             "date accuracy | first-person conclusions |", "|---|---|---|---|---|---|---|---|",
             f"| {gold['facts']:,} | {gold['conclusions']:,} | **{_f(gold['recall'])}** | "
             f"{_f(gold['cites_evidence_share'])} | {_f(gold['attribution_precision'])} | "
             f"{gold['dated']} ({gold['dated_recalled']}) | {_f(gold['date_accuracy'])} | "
             f"{_f(gold['first_person_share'])} |", "",
             f"Dates of the recalled dated facts: {v['correct']} correct, {v['coarse']} coarser than the fact "
             f"(e.g. the month for \"last week\"), {v['wrong']} wrong, {v['relative']} still relative, "
             f"{v['undated']} undated.", ""]
    if len(gold["by_conversation"]) > 1:
        lines += ["| conversation | gold facts | conclusions | recall |", "|---|---|---|---|"]
        lines += [f"| {k} | {c['facts']} | {c['conclusions']} | {_f(c['recall'])} |"
                  for k, c in gold["by_conversation"].items()]
        lines.append("")
    return lines
