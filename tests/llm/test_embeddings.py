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
