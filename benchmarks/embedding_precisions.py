"""How fast each embedding backend and precision embeds passages on *this* CPU.

    python benchmarks/embedding_precisions.py [--every N] [--rounds R]

Embeds every N-th SQuAD v1.1 dev paragraph (default 2: 1,034 paragraphs) through the
project's ``SentenceEmbeddings.embed_passages`` with each setting, on all cores, and prints
passages/s and the speed-up over PyTorch fp32 (what the indexing baseline,
``HuggingFaceEmbeddings``, runs), measured in the same run, the settings alternating round by
round. The sample is dense on purpose: PyTorch pads each batch of 32 to its longest text, and a
sparse sample's sorted batches span wider lengths, which would flatter the ONNX runs (they do
not pad). Slow emulated bf16 is timed on the first ``--bf16-limit`` paragraphs only, against
PyTorch fp32 on the same ones. Also prints the CPU
features that decide which precision can be fast: bf16 is native only with AVX512-BF16 or AMX,
int8 products gain most with VNNI (AVX512-VNNI or AVX-VNNI) or AMX.

It answers "what would indexing gain from bf16 or int8 here?" on any machine, so the indexing
figures in BENCHMARKS.md can be read against the hardware they were measured on.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.embeddings import SentenceEmbeddings  # noqa: E402

SQUAD = ROOT.parent / "shared" / "data" / "squad" / "dev-v1.1.json.zip"
SETTINGS = (("torch", "fp32"), ("onnx", "fp32"), ("onnx", "int8"))
FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16")


def cpu_features() -> tuple[str, list[str]]:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown", []
    model = re.search(r"^model name\s*:\s*(.+)$", info, re.MULTILINE)
    listed = re.search(r"^flags\s*:(.*)$", info, re.MULTILINE)
    flags = set(listed.group(1).split()) if listed else set()
    return (model.group(1) if model else "unknown"), [f for f in FEATURES if f in flags]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--every", type=int, default=2, help="take every N-th paragraph")
    parser.add_argument("--rounds", type=int, default=1, help="rounds over all settings")
    parser.add_argument(
        "--bf16-limit", type=int, default=64, help="paragraphs for the bf16 comparison"
    )
    args = parser.parse_args()

    with zipfile.ZipFile(SQUAD) as archive:
        articles = json.load(archive.open("dev-v1.1.json"))["data"]
    paragraphs = [p["context"] for a in articles for p in a["paragraphs"]][:: args.every]

    model, features = cpu_features()
    print(f"# Passage embedding speed by backend and precision: {len(paragraphs)} paragraphs\n")
    print(f"CPU: {model}, {os.cpu_count()} CPUs; features: {', '.join(features) or 'none'}")
    print(f"load average {os.getloadavg()[0]:.1f} at start\n")

    runners = {}
    for backend, precision in (*SETTINGS, ("torch", "bf16")):
        embeddings = SentenceEmbeddings(backend=backend, precision=precision)
        embeddings.load(passages=True)
        embeddings.embed_passages(paragraphs[:4])  # first runs allocate
        runners[backend, precision] = embeddings

    seconds = dict.fromkeys(SETTINGS, 0.0)
    for number in range(args.rounds):
        order = SETTINGS if number % 2 == 0 else tuple(reversed(SETTINGS))
        for setting in order:
            began = time.perf_counter()
            runners[setting].embed_passages(paragraphs)
            seconds[setting] += time.perf_counter() - began

    baseline = seconds["torch", "fp32"]
    print("| backend | precision | seconds | passages/s | vs torch fp32 |")
    print("|---|---|---:|---:|---:|")
    for backend, precision in SETTINGS:
        spent = seconds[backend, precision]
        rate = len(paragraphs) * args.rounds / spent
        print(f"| {backend} | {precision} | {spent:.1f} | {rate:.1f} | {baseline / spent:.2f}x |")

    few = paragraphs[: args.bf16_limit]
    timed = {"fp32": 0.0, "bf16": 0.0}
    for precision in ("fp32", "bf16", "fp32"):  # fp32 either side of bf16: half of each
        began = time.perf_counter()
        runners["torch", precision].embed_passages(few)
        timed[precision] += (time.perf_counter() - began) / (2 if precision == "fp32" else 1)
    print(
        f"\ntorch bf16 on the first {len(few)} of them: {len(few) / timed['bf16']:.1f} "
        f"passages/s, {timed['fp32'] / timed['bf16']:.2f}x torch fp32 on the same "
        f"({len(few) / timed['fp32']:.1f} passages/s)"
    )
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
