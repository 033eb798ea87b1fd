"""Sentence-transformers embeddings as a LangChain ``Embeddings``, offline and fast on CPU.

Two backends run the same sentence-transformers model folder:

* ``onnx`` (default): the transformer exported once to ONNX (see :mod:`assistant.embeddings.export`)
  and run by ONNX Runtime with the model's own ``tokenizer.json`` and pooling settings.
  It starts in well under a second and embeds a question about 4x faster than PyTorch here,
  because it needs neither ``torch`` nor ``transformers`` at run time (10+ s of imports on
  these machines).
* ``torch``: the model through ``sentence_transformers.SentenceTransformer``, in fp32 or bf16.

Both give the same vectors (cosine >= 0.9999, checked in the tests).

With the ``onnx`` backend and precision ``int8`` (what ``auto`` means there), *passages being
indexed* (:meth:`SentenceEmbeddings.embed_documents`) go through an int8-quantized copy of the
model (built once by :func:`assistant.embeddings.export.ensure_int8`), one passage per run, spread
over all cores; so are the answerer's sentences (2.0-2.5x faster than fp32 here), as when its
weights and refusal threshold were fitted. Questions stay fp32. The int8 passage vectors have
cosine >= 0.989 with fp32 (mean 0.996 on SQuAD paragraphs) and SQuAD retrieval hit@5 stays
within 0.3 points (``benchmarks/index_throughput.py``).
So int8 and fp32 passage vectors of the same model may share a collection (an index built in
fp32 and extended in int8, or the setting changed); only *different models'* vectors are kept
apart (see :mod:`assistant.store`), and ``assistant index --rebuild`` makes them uniform.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.config import PACKAGED_MINILM
from assistant.embeddings.runners import Runner, native_precision, resolve_model_folder
from assistant.errors import ConfigError

BACKENDS = ("onnx", "torch")
PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: What ``auto`` means for the onnx backend: int8 passages meet the quality bar (see above).
ONNX_AUTO_PRECISION = "int8"


class SentenceEmbeddings(Embeddings):
    """Unit-length sentence embeddings; the model loads on first use.

    Args:
        model: the packaged MiniLM (default), a sentence-transformers folder, or a hub name
            already in the local cache (nothing is downloaded).
        backend: ``onnx`` or ``torch`` (see the module docstring).
        precision: for ``torch``: ``bf16`` is about 3x faster than fp32 on CPUs with
            native bf16 (AVX512-BF16, AMX) and several times *slower* where it is emulated;
            ``auto`` picks bf16 only where it is native. For ``onnx``: ``int8`` embeds
            passages for the index with the int8 model (questions stay fp32), ``fp32`` (or
            ``bf16``) embeds everything in fp32, ``auto`` means ``int8``.
        cache_dir: where the ONNX export is kept.
        batch_size: at most this many texts per batch (ONNX batches also stop at
            :data:`~assistant.embeddings.onnx_runner.TOKENS_PER_BATCH` padded tokens).
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
        if precision == "int8" and backend != "onnx":
            raise ConfigError(
                "embedding precision int8 needs the onnx backend (ASSISTANT_EMBEDDING_BACKEND=onnx)"
            )
        self.model_name = model
        self.backend = backend
        if precision == "auto":
            precision = ONNX_AUTO_PRECISION if backend == "onnx" else native_precision()
        self.precision = precision
        self.cache_dir = cache_dir or Path.home() / ".cache" / "assistant"
        self.batch_size = batch_size
        self._runner: Runner | None = None
        self._passage_runner: Runner | None = None
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
    def runner(self) -> Runner:
        if self._runner is None:
            with self._load_lock:
                if self._runner is None:
                    self._runner = load_runner(self)
        return self._runner

    @property
    def passage_runner(self) -> Runner:
        """The model that embeds passages for the index: the int8 one with precision int8."""
        if not self.quantized_passages:
            return self.runner
        if self._passage_runner is None:
            with self._load_lock:
                if self._passage_runner is None:
                    self._passage_runner = load_runner(self, int8=True)
        return self._passage_runner

    @property
    def quantized_passages(self) -> bool:
        """Whether passages are embedded by the int8 model (questions never are)."""
        return self.backend == "onnx" and self.precision == "int8"

    def load(self, *, passages: bool = False) -> SentenceEmbeddings:
        """Load the model now rather than on the first text (with ``passages``, the passage
        model too, building the int8 copy first if it is not there yet), and run it once:
        a session's first run allocates its buffers."""
        self.runner.prepare()
        if passages:
            self.passage_runner.prepare()
        return self

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads per text; longer texts would be truncated."""
        # The passage model: both models read the same tokenizer and window, and indexing,
        # which splits passages to fit it, then never loads the fp32 model (~115 MB).
        return self.passage_runner.max_tokens

    def count_tokens(self, text: str) -> int:
        """Count the word pieces of ``text`` as the model sees them (with special tokens)."""
        return self.passage_runner.count_tokens(text)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages for the index (LangChain's indexing calls this)."""
        return self.embed_passages(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_questions([text])[0].tolist()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` into a float32 array of unit vectors, one row each (fp32 model)."""
        return self.runner.encode_many(list(texts), self.batch_size)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Embed passages for the index: like :meth:`embed`, but on the int8 model (one
        passage per run) when passages are quantized."""
        if not self.quantized_passages:
            return self.embed(texts)
        return self.passage_runner.encode_many(list(texts), self.batch_size)

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


def load_runner(embeddings: SentenceEmbeddings, *, int8: bool = False) -> Runner:
    location = resolve_model_folder(embeddings.model_name)
    try:
        if embeddings.backend == "onnx":
            if not isinstance(location, Path) or not (location / "tokenizer.json").exists():
                raise ConfigError(
                    f"The onnx backend needs a local sentence-transformers folder with "
                    f"tokenizer.json; {embeddings.model_name!r} is not one. Set "
                    "ASSISTANT_EMBEDDING_BACKEND=torch to use it through PyTorch."
                )
            from assistant.embeddings.export import ensure_int8, ensure_onnx
            from assistant.embeddings.onnx_runner import OnnxRunner

            if int8:
                return OnnxRunner(
                    location, ensure_int8(location, embeddings.cache_dir), bulk_only=True
                )
            return OnnxRunner(location, ensure_onnx(location, embeddings.cache_dir))
        from assistant.embeddings.torch_runner import TorchRunner

        return TorchRunner(str(location), embeddings.precision)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure here means "this model cannot be used"
        raise ConfigError(
            f"Cannot load embedding model {embeddings.model_name!r}: {exc}. Set "
            "ASSISTANT_EMBEDDING_MODEL to a local sentence-transformers model folder "
            "(nothing is downloaded at run time)."
        ) from exc
