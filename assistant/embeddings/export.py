"""Export a sentence-transformers model's transformer to ONNX, once, into a local cache.

Two files are prepared, both from the local model folder only (nothing is downloaded):

* ``model.fp32-<recipe>.onnx``: the transformer exported with eager attention and fused by
  ONNX Runtime's BERT optimizer (Attention, BiasGelu, EmbedLayerNormalization). Same vectors
  as PyTorch (cosine >= 0.9999, tested); fused, it ran about 1.4x faster than the plain export
  on CPU (measured when layer norms were still fused too). Residual adds and layer norms are
  *not* fused into SkipLayerNormalization: ONNX Runtime's CPU kernel for it took ~3x as long
  as Add + LayerNormalization here (see :data:`UNFUSED_AT_LOAD`); fused, they were ~10 % of
  a passage's time, and leaving them unfused saved 5-7 %.
* ``model.int8-<recipe>.onnx``: a faster copy for embedding passages when indexing (see
  :func:`ensure_int8`): the fused graph dynamically quantized to int8 (per-channel 7-bit
  weights, uint8 activations quantized on the fly), except for the few matrix products that
  int8 hurts most, which stay fp32.

Both need ``torch``, ``transformers`` and ``onnx`` to build, which are imported here and nowhere
on the question path. Run ``python -m assistant.embeddings.export`` to prepare them ahead of time
(``make install`` does).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from assistant.embeddings.runners import offline_environment, read_json

_OPSET = 17

#: Bump when a recipe changes, so an older file is not reused.
FP32_RECIPE = "eager-fused-ln-r2"
INT8_RECIPE = "dq-s8pc-rr-keep4-r2"
#: Matrix products left in fp32: int8 error concentrates in the first layers' products.
_KEEP_ATTENTION_OUTPUTS = 1  # the first layer's attention output projection
_KEEP_FFN_OUTPUTS = 3  # the first three layers' feed-forward output (input: GELU, outliers)
#: ONNX Runtime optimizers to switch off when loading these files: at load time it would fuse
#: Add + LayerNormalization back into SkipLayerNormalization, whose CPU kernel is the slow one
#: (430 us against 138 us on 156 tokens x 384, one thread).
UNFUSED_AT_LOAD = ("SkipLayerNormFusion",)


def onnx_path(folder: Path, cache_dir: Path) -> Path:
    """Where the export of ``folder`` lives: keyed by the folder and its weights' identity."""
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    identity = [str(folder.resolve())]
    identity += [f"{w.name}:{w.stat().st_size}:{int(w.stat().st_mtime)}" for w in weights]
    digest = hashlib.sha256("|".join(identity).encode()).hexdigest()[:16]
    return cache_dir / "onnx" / f"{folder.name}-{digest}" / f"model.fp32-{FP32_RECIPE}.onnx"


def int8_path(folder: Path, cache_dir: Path) -> Path:
    """Where the int8 copy of ``folder``'s export lives (beside the fp32 one)."""
    return onnx_path(folder, cache_dir).with_name(f"model.int8-{INT8_RECIPE}.onnx")


def ensure_onnx(folder: Path, cache_dir: Path) -> Path:
    """Return the ONNX file for ``folder``, exporting it first if it is not there yet."""
    target = onnx_path(folder, cache_dir)
    return _ensure(
        target,
        lambda destination: build_fp32(folder, destination),
        "Preparing the embedding model for ONNX Runtime (once)",
    )


def ensure_int8(folder: Path, cache_dir: Path) -> Path:
    """Return the int8 ONNX file for ``folder``, building it first if it is not there yet.

    The build takes about half a minute on a laptop CPU and happens once per model.
    """
    fused = ensure_onnx(folder, cache_dir)
    target = int8_path(folder, cache_dir)
    return _ensure(
        target,
        lambda destination: quantize(fused, destination),
        "Preparing the int8 embedding model for indexing (once)",
    )


def _ensure(target: Path, build: Callable[[Path], None], message: str) -> Path:
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"{message}: {target}", file=sys.stderr)
    # Build under a temporary name and rename, so a concurrent or killed build never leaves
    # a half-written model behind.
    handle, temporary = tempfile.mkstemp(suffix=".onnx", dir=target.parent)
    os.close(handle)
    try:
        build(Path(temporary))
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def _export(folder: Path, destination: Path) -> None:
    offline_environment()
    import torch
    from transformers import AutoModel, AutoTokenizer

    model: Any = None
    # Eager attention exports as plain MatMul/Softmax, which ONNX Runtime's optimizer fuses
    # into one Attention node; the SDPA export (transformers' default) is not fused.
    try:
        model = AutoModel.from_pretrained(str(folder), attn_implementation="eager")
    except (TypeError, ValueError):
        model = None
    if model is None:
        model = AutoModel.from_pretrained(str(folder))
    model = model.eval()
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
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow
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


def build_fp32(folder: Path, destination: Path) -> None:
    """Export ``folder`` with eager attention and fuse it (unfused if the optimizer cannot)."""
    with tempfile.TemporaryDirectory(dir=destination.parent) as work:
        exported = Path(work) / "eager.onnx"
        _export(folder, exported)
        if not _fuse(folder, exported, destination):
            os.replace(exported, destination)


def quantize(fused: Path, destination: Path) -> None:
    """Quantize the fused fp32 model to int8, keeping :func:`fp32_products` in fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep = fp32_products(onnx.load(str(fused)))
    if len(keep) != _KEEP_ATTENTION_OUTPUTS + _KEEP_FFN_OUTPUTS:
        print(
            f"The model's graph is not the fused BERT graph the int8 recipe was measured on "
            f"({len(keep)} products kept in fp32, not "
            f"{_KEEP_ATTENTION_OUTPUTS + _KEEP_FFN_OUTPUTS}); check its retrieval quality "
            "with benchmarks/index_throughput.py, or set ASSISTANT_EMBEDDING_PRECISION=fp32.",
            file=sys.stderr,
        )
    with _without_preprocessing_advice():
        quantize_dynamic(
            str(fused),
            str(destination),
            weight_type=QuantType.QInt8,
            per_channel=True,
            # 7-bit weights: without VNNI, the AVX2 int8 kernels add pairs of uint8 x int8
            # products in 16 bits, which full-range weights can overflow.
            reduce_range=True,
            nodes_to_exclude=keep,
            extra_options={
                # Quantize only products with a constant weight (not attention's Q·Kᵀ).
                "MatMulConstBOnly": True,
                # Shape inference does not know the fused contrib ops' output types.
                "DefaultTensorType": onnx.TensorProto.FLOAT,
            },
        )


class _DropPreprocessingAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


@contextlib.contextmanager
def _without_preprocessing_advice() -> Iterator[None]:
    """Hide the quantizer's advice to pre-process (meant for CNNs), which it logs on the root
    logger, and only that message: other warnings and the root logger's level are untouched."""
    advice = _DropPreprocessingAdvice()
    root = logging.getLogger()
    root.addFilter(advice)
    try:
        yield
    finally:
        root.removeFilter(advice)


def _fuse(folder: Path, source: Path, destination: Path) -> bool:
    """Apply ONNX Runtime's BERT fusions; False if the optimizer cannot handle the model."""
    try:
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model

        config = read_json(folder / "config.json")
        fusions = FusionOptions("bert")
        fusions.enable_skip_layer_norm = False  # see UNFUSED_AT_LOAD
        optimized = optimize_model(
            str(source),
            model_type="bert",
            num_heads=int(config.get("num_attention_heads", 0)),
            hidden_size=int(config.get("hidden_size", 0)),
            opt_level=1,
            optimization_options=fusions,
        )
        optimized.save_model_to_file(str(destination))
        return True
    except Exception as exc:  # noqa: BLE001 - unfused is slower but still correct
        print(
            f"ONNX Runtime could not fuse the model ({exc}); using the unfused graph "
            "(correct, but slower).",
            file=sys.stderr,
        )
        return False


def fp32_products(model: Any) -> list[str]:
    """Names of the matrix products kept in fp32: found by structure, not by name.

    In a fused BERT graph, the attention output projection is the MatMul fed by an Attention
    node and the feed-forward output the MatMul fed by a GELU; the first layers' ones carry
    most of the int8 error (measured node by node on SQuAD paragraphs).
    """
    producer = {output: node for node in model.graph.node for output in node.output}
    attention_outputs, ffn_outputs = [], []
    for node in model.graph.node:
        if node.op_type != "MatMul":
            continue
        source = producer.get(node.input[0])
        kind = source.op_type if source is not None else ""
        if kind in ("Attention", "MultiHeadAttention"):
            attention_outputs.append(node.name)
        elif kind in ("BiasGelu", "Gelu", "FastGelu"):
            ffn_outputs.append(node.name)
    return attention_outputs[:_KEEP_ATTENTION_OUTPUTS] + ffn_outputs[:_KEEP_FFN_OUTPUTS]


def main() -> None:
    from assistant.config import Settings
    from assistant.embeddings.runners import resolve_model_folder

    settings = Settings()
    folder = resolve_model_folder(settings.embedding_model)
    if not isinstance(folder, Path):
        sys.exit(f"{settings.embedding_model!r} is not a local model folder; nothing to export.")
    print(ensure_onnx(folder, settings.model_cache_dir))
    if settings.embedding_backend == "onnx" and settings.embedding_precision in ("auto", "int8"):
        print(ensure_int8(folder, settings.model_cache_dir))


if __name__ == "__main__":
    main()
