"""The transformer on ONNX Runtime, with the model's own tokenizer and pooling."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from assistant.embeddings.export import UNFUSED_AT_LOAD
from assistant.embeddings.runners import Runner, read_json, usable_cpus

#: Padded tokens per ONNX batch: small batches of similar length pad little, stay in cache
#: and keep both cores busy to the end (measured on SQuAD paragraphs and questions).
TOKENS_PER_BATCH = 512


class OnnxRunner(Runner):
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

        config = read_json(folder / "sentence_bert_config.json")
        pooling = read_json(folder / "1_Pooling" / "config.json")
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
        self._workers = usable_cpus()
        self._one_text_per_run = bulk_only
        self._bulk_only = bulk_only or self._workers == 1
        self._sessions: dict[bool, Any] = {}
        self._sessions_lock = threading.Lock()
        # One pool for the runner's life: a pool per call cost a thread start per batch.
        self._pool: ThreadPoolExecutor | None = None
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
            list(self._thread_pool().map(run, chunks))
        else:
            for chunk in chunks:
                run(chunk)

    def _thread_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._sessions_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="embed")
        return self._pool

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


def open_session(onnx_file: Path, *, threads: int, save_optimized: Path | None = None) -> Any:
    """An ONNX Runtime CPU session on ``threads`` threads, optimized as the exports expect
    (``save_optimized``: where to write the graph it will run, for inspection)."""
    import onnxruntime as ort

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
