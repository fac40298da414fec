"""Stored texts are embedded as documents and searches as queries (the prefixes nomic-embed needs)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from honcho_local import schemas
from honcho_local.config import load_settings
from honcho_local.llm.base import Embeddings
from honcho_local.llm.fake import FakeEmbedder
from honcho_local.schemas_read import ConclusionCreate
from honcho_local.wiring import Services, build_services
from tests.fake_model import FakeModel


class RecordingEmbedder(FakeEmbedder):
    """A fake that applies nomic-style prefixes and records (kind, texts) for every call."""

    PREFIXES = {"query": "search_query: ", "document": "search_document: "}

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, list[str]]] = []

    def embed(self, texts: Sequence[str], kind: str = "document") -> Embeddings:
        self.calls.append((kind, list(texts)))
        return super().embed([self.PREFIXES[kind] + t for t in texts], kind)


@pytest.fixture
def setup(tmp_home: Path) -> Iterator[tuple[Services, RecordingEmbedder]]:
    model = FakeModel().start()
    embedder = RecordingEmbedder()
    settings = load_settings(tmp_home, env={}, reasoning_model="openai:fake", openai_base_url=model.url,
                             reasoning_retry_backoff=0.05)
    svc = build_services(settings, with_worker=True, embedder_factory=lambda: embedder)
    yield svc, embedder
    svc.close()
    model.stop()


def test_worker_and_api_embed_documents_and_searches_embed_queries(setup) -> None:
    svc, embedder = setup
    batch = schemas.MessageBatch(messages=[schemas.MessageCreate(peer_id="alice", content="I moved to Lisbon.")])
    svc.ingest.add_messages("w", "s1", batch)
    assert svc.worker.drain(30)
    stored = [t for _, texts in embedder.calls for t in texts]
    assert "alice: I moved to Lisbon." in stored and "alice said: I moved to Lisbon." in stored  # message + conclusion
    assert {kind for kind, _ in embedder.calls} == {"document"}

    embedder.calls.clear()
    svc.conclusions.create("w", [ConclusionCreate(content="Alice likes tea.", observer_id="alice",
                                                  observed_id="alice")])
    assert embedder.calls == [("document", ["Alice likes tea."])]

    embedder.calls.clear()
    hits = svc.search.ranked("w", "Where does alice live?", 5)
    assert embedder.calls == [("query", ["Where does alice live?"])] and hits
