"""all-MiniLM-L6-v2 converted from safetensors and run by llama.cpp matches sentence-transformers."""

from __future__ import annotations

import numpy as np
import pytest

from honcho_local.llm.base import Embedder

pytestmark = pytest.mark.model


def test_vectors_match_sentence_transformers(minilm, minilm_reference):
    result = minilm.embed(minilm_reference["sentences"])
    assert result.dims == minilm_reference["dims"] == 384
    ours = np.array(result.vectors)
    ref = np.array(minilm_reference["vectors"])
    cos = (ours * ref).sum(axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    worst = int(cos.argmin())
    assert cos.min() >= 0.999, f"{minilm_reference['sentences'][worst]!r}: cosine {cos.min():.6f}"


def test_vectors_are_normalized_and_results_labelled(minilm):
    result = minilm.embed(["hello world", "The user is vegetarian."])
    assert isinstance(minilm, Embedder)
    assert np.allclose(np.linalg.norm(np.array(result.vectors), axis=1), 1.0, atol=1e-4)
    assert result.provider == "llamacpp" and result.model == "all-minilm-l6-v2"
    assert result.prompt_tokens == minilm.count_tokens("hello world") + minilm.count_tokens("The user is vegetarian.")


def test_similar_sentences_are_closer(minilm):
    a, b, c = minilm.embed(["The user has a cat named Pixel.", "What pet does the user have?",
                            "Quarterly tax filing deadlines"]).vectors
    assert np.dot(a, b) > np.dot(a, c)


def test_long_input_is_truncated_not_rejected(minilm):
    result = minilm.embed(["word " * 1000])
    assert len(result.vectors[0]) == 384


def test_minilm_has_no_prefixes_so_queries_and_documents_embed_alike(minilm):
    assert minilm.embed(["hello"], kind="query").vectors == minilm.embed(["hello"], kind="document").vectors
    with pytest.raises(ValueError, match="kind"):
        minilm.embed(["hello"], kind="passage")


def test_catalog_prefixes_are_prepended_by_kind(minilm_path, tmp_path):
    from honcho_local.config import load_settings
    from honcho_local.llm import build_embedder

    (tmp_path / "catalog.local.toml").write_text(
        '[models.prefixed]\nrole = "embedding"\nfile = "all-MiniLM-L6-v2.f16.gguf"\n'
        'query_prefix = "search_query: "\ndocument_prefix = "search_document: "\nlexical_weight = 0.5\n'
        f'[models.prefixed.source]\nkind = "path"\npath = "{minilm_path}"\n')
    embedder = build_embedder(load_settings(home=tmp_path, env={}, models_dir=str(tmp_path),
                                            embedding_model="prefixed"))
    try:
        assert embedder.lexical_weight == 0.5  # what message search weights BM25 with beside this model
        raw = embedder.llama.embed
        assert embedder.embed(["a cat"], kind="query").vectors[0] == pytest.approx(
            raw("search_query: a cat", normalize=True), abs=1e-6)
        assert embedder.embed(["a cat"]).vectors[0] == pytest.approx(
            raw("search_document: a cat", normalize=True), abs=1e-6)
    finally:
        embedder.close()


@pytest.fixture(scope="module")
def nomic(test_models_dir):
    """nomic-embed-text-v1.5 when it has been pulled (`honcho-local models pull nomic-embed-text-v1.5`)."""
    from honcho_local.config import load_settings
    from honcho_local.llm import build_embedder
    from honcho_local.llm.catalog import find_spec, model_status

    if model_status(find_spec("nomic-embed-text-v1.5"), test_models_dir) != "installed":
        pytest.skip("nomic-embed-text-v1.5 is not in the models dir (it is optional; pull it to run these)")
    embedder = build_embedder(load_settings(env={}, models_dir=str(test_models_dir),
                                            embedding_model="nomic-embed-text-v1.5"))
    yield embedder
    embedder.close()


def test_nomic_is_mean_pooled_768_d_normalized_and_prefixed(nomic):
    import llama_cpp

    assert nomic.dims == 768 and nomic.llama.pooling_type() == llama_cpp.LLAMA_POOLING_TYPE_MEAN
    doc, query = nomic.embed(["The user has a cat named Pixel."]), nomic.embed(["The user has a cat named Pixel."],
                                                                                kind="query")
    assert np.allclose(np.linalg.norm(np.array(doc.vectors + query.vectors), axis=1), 1.0, atol=1e-4)
    assert doc.vectors[0] == pytest.approx(
        nomic.llama.embed("search_document: The user has a cat named Pixel.", normalize=True), abs=1e-6)
    assert float(np.dot(doc.vectors[0], query.vectors[0])) < 0.999  # the prefixes do change the vector


def test_nomic_ranks_the_relevant_document_first(nomic):
    docs = nomic.embed(["The user has a cat named Pixel.", "Quarterly tax filing deadlines",
                        "The user moved to Lisbon last month."]).vectors
    (query,) = nomic.embed(["What pet does the user have?"], kind="query").vectors
    assert int(np.argmax(np.array(docs) @ np.array(query))) == 0


def test_a_closed_model_refuses_calls_instead_of_crashing(minilm_path):
    """Shutdown frees the model while a worker thread may still call it: the call must fail cleanly
    (a use after free killed the server with SIGSEGV)."""
    from honcho_local.errors import ModelUnavailable
    from honcho_local.llm.llamacpp import LlamaCppEmbedder

    embedder = LlamaCppEmbedder(minilm_path, "all-minilm-l6-v2")
    assert embedder.embed(["before close"]).dims == 384
    embedder.close()
    with pytest.raises(ModelUnavailable, match="closed"):
        embedder.embed(["after close"])
    with pytest.raises(ModelUnavailable, match="closed"):
        embedder.count_tokens("after close")
