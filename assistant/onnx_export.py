"""Export a sentence-transformers model's transformer to ONNX, once, into a local cache.

The export reads only the local model folder (nothing is downloaded) and needs ``torch``,
``transformers`` and ``onnx``, which are imported here and nowhere on the question path.
Run ``python -m assistant.onnx_export`` to prepare it ahead of time (``make install`` does).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

_OPSET = 17


def onnx_path(folder: Path, cache_dir: Path) -> Path:
    """Where the export of ``folder`` lives: keyed by the folder and its weights' identity."""
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    identity = [str(folder.resolve())]
    identity += [f"{w.name}:{w.stat().st_size}:{int(w.stat().st_mtime)}" for w in weights]
    digest = hashlib.sha256("|".join(identity).encode()).hexdigest()[:16]
    return cache_dir / "onnx" / f"{folder.name}-{digest}" / "model.onnx"


def ensure_onnx(folder: Path, cache_dir: Path) -> Path:
    """Return the ONNX file for ``folder``, exporting it first if it is not there yet."""
    target = onnx_path(folder, cache_dir)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"Preparing the embedding model for ONNX Runtime (once): {target}", file=sys.stderr)
    # Export to a temporary name and rename, so a concurrent or killed export never leaves
    # a half-written model behind.
    handle, temporary = tempfile.mkstemp(suffix=".onnx", dir=target.parent)
    os.close(handle)
    try:
        _export(folder, Path(temporary))
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def _export(folder: Path, destination: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(folder)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    sample = tokenizer(
        ["an example", "another, longer example sentence"], padding=True, return_tensors="pt"
    )
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class _LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    with torch.inference_mode():
        torch.onnx.export(
            _LastHiddenState(),
            tuple(sample[n] for n in names),
            str(destination),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=_OPSET,
            dynamo=False,
        )


def main() -> None:
    from assistant.config import Settings
    from assistant.embeddings import resolve_model_folder

    settings = Settings()
    folder = resolve_model_folder(settings.embedding_model)
    if not isinstance(folder, Path):
        sys.exit(f"{settings.embedding_model!r} is not a local model folder; nothing to export.")
    print(ensure_onnx(folder, settings.model_cache_dir))


if __name__ == "__main__":
    main()
