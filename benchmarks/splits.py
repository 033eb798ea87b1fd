"""The tuning and test splits of the SQuAD data, used by every tuning and report script.

Weights and thresholds are chosen on the **tuning** split only: the first 24 articles (file
order) of SQuAD v1.1 dev, and the SQuAD 2.0 half questions about those same articles. The
**test** split is the other 24 articles (and the 2.0 questions about them); figures are
reported on test and on the whole set.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "data" / "squad"
V11 = SQUAD / "dev-v1.1.json.zip"
V20_HALF = SQUAD / "dev-v2.0-half.json"
TUNING_ARTICLES = 24


def v11_titles() -> list[str]:
    """The article titles of SQuAD v1.1 dev, in file order."""
    with zipfile.ZipFile(V11) as archive:
        data = json.loads(archive.read("dev-v1.1.json"))["data"]
    return [str(article["title"]) for article in data]


def tuning_sources() -> frozenset[str]:
    """The ``source`` (``squad/<title>``) of the tuning split's articles."""
    return frozenset(f"squad/{title}" for title in v11_titles()[:TUNING_ARTICLES])


def split_of(source: str | None, tuning: frozenset[str] | None = None) -> str:
    """``tuning`` or ``test`` for a question whose gold ``source`` is given."""
    return "tuning" if source in (tuning if tuning is not None else tuning_sources()) else "test"
