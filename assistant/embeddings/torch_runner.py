"""The model through sentence-transformers and PyTorch (``ASSISTANT_EMBEDDING_BACKEND=torch``)."""

from __future__ import annotations

import numpy as np

from assistant.embeddings.runners import Runner, offline_environment


class TorchRunner(Runner):
    """The model through sentence-transformers and PyTorch."""

    def __init__(self, location: str, precision: str) -> None:
        offline_environment()
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
