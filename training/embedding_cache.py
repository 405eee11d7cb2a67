"""The frozen encoder's text embeddings, kept on disk so that a retrain embeds only the texts it has not seen.

The linear probe (the first stage of LP-FT, ``training.train.linear_probe``) reads every training row through
the pretrained encoder, which does not change between runs: its embedding of a text depends only on the
encoder's weights, the layers kept, the token budget and the text prefix. Those four make the cache's key (a
folder under ``$TRIAGE_WORK_DIR/cache/embeddings``); inside it, each text's vector is stored under a hash of
the text. Keying by text rather than by corpus fingerprint lets a rebuilt corpus (new reviewer decisions, a new
source, another seed) reuse every vector it shares with the last one.

Vectors are stored as float16 in append-only shards (``shard-NNNNN.npz``, written atomically), about 0.8 KB per
text at 384 dimensions. Two runs writing at once each add their own shard; the worst case is a vector stored
twice. Delete the folder to reclaim the space: it is rebuilt on demand.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]
KEY_BYTES = 16


def cache_key(encoder_sha256: str, layers: int, max_length: int, prefix: str) -> str:
    """The cache folder's name for an encoder (its weights' digest), the layers kept, tokens and prefix."""
    spec = json.dumps({"encoder": encoder_sha256, "layers": layers, "max_length": max_length, "prefix": prefix},
                      sort_keys=True)
    return hashlib.sha256(spec.encode()).hexdigest()[:24]


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=KEY_BYTES).digest()


@dataclass
class CacheStats:
    """What one lookup found: rows asked for, found on disk, computed now, and the seconds computing took."""

    rows: int = 0
    hits: int = 0
    computed: int = 0
    compute_seconds: float = 0.0


class EmbeddingCache:
    def __init__(self, folder: Path, dim: int) -> None:
        self.folder = folder
        self.dim = dim
        self._index: dict[bytes, tuple[int, int]] = {}
        self._shards: list[npt.NDArray[np.float16]] = []
        self._load()

    def _load(self) -> None:
        for path in sorted(self.folder.glob("shard-*.npz")):
            with np.load(path) as data:
                keys, vectors = data["keys"], data["vectors"]
            if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(keys) != len(vectors):
                continue  # a shard of another shape: not ours to read
            shard = len(self._shards)
            self._shards.append(vectors)
            for row, key in enumerate(keys.tolist()):
                # numpy's fixed-width bytes drop trailing NUL bytes: pad them back (1 key in 256 ends in one)
                self._index.setdefault(bytes(key).ljust(KEY_BYTES, b"\0"), (shard, row))

    def __len__(self) -> int:
        return len(self._index)

    def get(self, texts: Sequence[str]) -> tuple[Floats, npt.NDArray[np.int64]]:
        """The cached vectors of ``texts`` (zeros where missing) and the positions of the missing ones."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing: list[int] = []
        for i, text in enumerate(texts):
            found = self._index.get(text_key(text))
            if found is None:
                missing.append(i)
            else:
                out[i] = self._shards[found[0]][found[1]]
        return out, np.array(missing, dtype=np.int64)

    def put(self, texts: Sequence[str], vectors: Floats) -> None:
        """Store ``vectors`` of ``texts`` as one new shard (texts already cached are skipped)."""
        new: dict[bytes, int] = {}  # key -> the first position of its text (a set lookup, not a list scan)
        for i, text in enumerate(texts):
            key = text_key(text)
            if key not in self._index:
                new.setdefault(key, i)
        keys, rows = list(new), list(new.values())
        if not keys:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        shard_vectors = vectors[rows].astype(np.float16)
        number = len(list(self.folder.glob("shard-*.npz")))
        while (self.folder / f"shard-{number:05d}.npz").exists():
            number += 1
        path = self.folder / f"shard-{number:05d}.npz"
        tmp = self.folder / f".{path.name}.{os.getpid()}.tmp"
        with tmp.open("wb") as handle:
            np.savez(handle, keys=np.array(keys, dtype=f"S{KEY_BYTES}"), vectors=shard_vectors)
        os.replace(tmp, path)
        shard = len(self._shards)
        self._shards.append(shard_vectors)
        for row, key in enumerate(keys):
            self._index[key] = (shard, row)

    def embed(self, texts: Sequence[str], compute: Callable[[npt.NDArray[np.int64]], Floats],
              ) -> tuple[Floats, CacheStats]:
        """The vectors of ``texts``: cached ones read, the rest computed by ``compute(positions)`` (which
        returns their vectors in that order) and stored. Cached vectors come back at float16 precision."""
        vectors, missing = self.get(texts)
        stats = CacheStats(rows=len(texts), hits=len(texts) - len(missing), computed=len(missing))
        if len(missing):
            started = time.perf_counter()
            computed = compute(missing)
            stats.compute_seconds = round(time.perf_counter() - started, 1)
            self.put([texts[i] for i in missing], computed)
            vectors[missing] = computed.astype(np.float16).astype(np.float32)  # as a later run will read them
        return vectors, stats
