"""The deriver's output checks, without a model: a fact must come from the observed peer's own lines."""

from __future__ import annotations

from datetime import datetime

from honcho_local.services.deriver import Line, interpret, misattributed

AT = datetime(2023, 1, 20, 16, 4)


def _lines(*items: tuple[str, str], peer: str) -> list[Line]:
    return [Line(i, f"m{i}", i, who, text, AT, who == peer) for i, (who, text) in enumerate(items, start=1)]


CHAT = (("Jon", "Lost my job as a banker yesterday, so I'm starting a dance studio 'cause I'm passionate "
                "about dancing."),
        ("Gina", "That's cool, Jon! What got you into this biz?"),
        ("Jon", "I've been into dancing since I was a kid."),
        ("Gina", "Same here! I just opened my online clothing store last week, it's been hectic."))


def test_a_fact_restating_another_speakers_line_is_dropped() -> None:
    lines = _lines(*CHAT, peer="Gina")
    parsed = {"facts": [
        {"fact": "Gina is starting a dance studio because she is passionate about dancing.", "lines": [2]},
        {"fact": "Gina opened an online clothing store last week.", "lines": [4]},
        {"fact": "Gina is busy these days.", "lines": [4]},  # a paraphrase no other line holds: kept
        {"fact": "Gina opened an online clothing store last week.", "lines": [4]}],  # the same, once dated
        "inferences": [{"conclusion": "Gina is an entrepreneur.", "from_facts": [1, 2]},
                       {"conclusion": "Gina loves dance.", "from_facts": [1]}]}
    facts, dropped = interpret(parsed, lines, "Gina")
    assert [f.content for f in facts] == ["Gina opened an online clothing store the week before 20 January 2023.",
                                          "Gina is busy these days.", "Gina is an entrepreneur."]
    assert facts[2].premises == [0]  # the dropped fact is no longer a premise
    assert dropped == 3  # the mix-up, the repeat, and the inference that rested on the mix-up alone


def test_the_check_reads_the_neighbourhood_of_the_cited_lines() -> None:
    lines = _lines(*CHAT, peer="Jon")
    jon = [ln for ln in lines if ln.target]
    assert not misattributed("Jon lost his job as a banker.", jon[:1], lines, "Jon")
    assert misattributed("Jon opened an online clothing store.", jon[1:], lines, "Jon")
    far = _lines(*CHAT, *[("Jon", f"filler line {i}") for i in range(6)], ("Jon", "Business is booming."), peer="Jon")
    near = _lines(*CHAT, ("Jon", "Business is booming."), peer="Jon")
    # the same fact, citing a line that shares none of its words: flagged next to Gina's store line,
    # kept where her line is 7 lines away (no neighbour it could have come from)
    assert misattributed("Jon opened an online clothing store.", near[-1:], near, "Jon")
    assert not misattributed("Jon opened an online clothing store.", far[-1:], far, "Jon")


def test_recheck_removes_stored_mixups_and_the_deductions_resting_on_them(tmp_home) -> None:
    from click.testing import CliRunner

    from honcho_local import schemas
    from honcho_local.cli import main
    from honcho_local.config import load_settings
    from honcho_local.services.recheck import recheck_attribution
    from honcho_local.store.cards import append_card, latest_card
    from honcho_local.store.conclusions import NewConclusion, insert_conclusions
    from honcho_local.wiring import build_services

    services = build_services(load_settings(tmp_home, env={}, embedding_model="none"))
    sent = services.ingest.add_messages("w", "s", schemas.MessageBatch(messages=[
        schemas.MessageCreate(peer_id=who, content=text) for who, text in CHAT]))
    version = services.version

    def add(ctx, content, level, sources, premises=()):
        [stored] = insert_conclusions(ctx, [NewConclusion("w", "Gina", "Gina", content, level, "s", None, None,
                                                          sources, list(premises), {}, AT)], version)
        return stored.id

    def op(ctx):
        wrong = add(ctx, "Gina is starting a dance studio because she is passionate about dancing.", "explicit",
                    [sent[1]["id"]])
        right = add(ctx, "Gina opened an online clothing store last week.", "explicit", [sent[3]["id"]])
        add(ctx, "Gina loves dance.", "deductive", [sent[1]["id"]], [wrong])
        add(ctx, "Gina is an entrepreneur.", "deductive", [sent[1]["id"], sent[3]["id"]], [wrong, right])
        add(ctx, "Gina opened her store yesterday.", "explicit", [sent[3]["id"]])
        add(ctx, "Gina is a store owner.", "explicit", [sent[3]["id"]])
        append_card(ctx, "w", "Gina", "Gina", ["ATTRIBUTE: Starting a dance studio, passionate about dancing",
                                               "IDENTITY: Runs an online clothing store"], version, source="worker")

    services.store.write(op)
    dry = recheck_attribution(services.store, version, dry_run=True)
    assert (dry.checked, len(dry.flagged), len(dry.deductions), len(dry.dated), len(dry.cards)) == (4, 1, 1, 2, 1)
    live = lambda: sorted(r[0] for r in services.store.read(lambda cur: cur.execute(
        "SELECT content FROM conclusions WHERE deleted_at IS NULL").fetchall()))
    assert len(live()) == 6  # a dry run changes nothing
    services.close()

    out = CliRunner().invoke(main, ["--home", str(tmp_home), "recheck"])
    assert out.exit_code == 0 and "removed 1 that restate another speaker's line and 1 deductions" in out.output
    services = build_services(load_settings(tmp_home, env={}, embedding_model="none"))
    assert live() == ["Gina is a store owner.", "Gina is an entrepreneur.",
                      "Gina opened an online clothing store the week before 20 January 2023.",
                      "Gina opened her store on 19 January 2023."]
    card = services.store.read(lambda cur: latest_card(cur, "w", "Gina", "Gina", version))
    # rebuilt from what is left: the mix-up's entry went, the dated events are not card material
    assert card["entries"] == ["IDENTITY: Gina is a store owner"]
    again = recheck_attribution(services.store, version)
    assert (len(again.flagged), len(again.dated), len(again.cards)) == (0, 0, 0)  # nothing left to do
    services.close()
