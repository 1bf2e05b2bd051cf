"""published.csv: the cited figures shipped with posebench, read and checked (columns, values, metric names)."""
from __future__ import annotations

import importlib.resources
import io
import os
from pathlib import Path

import pandas as pd

from posebench.errors import PosebenchError


PUBLISHED_COLUMNS = ("method", "citation", "protocol", "metric", "value", "unit", "joints", "alignment",
                     "reflections", "frames", "aggregation", "labels", "ground_truth", "scaling", "multicrop",
                     "training_data", "source", "quoted", "note")


class PublishedFileError(PosebenchError):
    """published.csv is malformed."""


def load_published(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """published.csv (the shipped copy unless ``path``), checked: required columns, numeric values, known metrics."""
    from posebench.metrics import METRICS

    if path is None:
        text = importlib.resources.files("posebench.published_data").joinpath("published.csv").read_text("utf-8")
        where = "posebench.published_data/published.csv"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise PublishedFileError(f"{where}: cannot read ({e})") from None
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as e:
        raise PublishedFileError(f"{where}: not a readable CSV ({e})") from None
    missing = [c for c in PUBLISHED_COLUMNS if c not in df.columns]
    if missing:
        raise PublishedFileError(f"{where}: missing columns {', '.join(missing)}")
    values = pd.to_numeric(df["value"], errors="coerce")
    if values.isna().any():
        bad = int(values.isna().idxmax())
        raise PublishedFileError(f"{where}: row {bad + 2} has a non-numeric value {df['value'][bad]!r}")
    unknown = sorted(set(df["metric"]) - set(METRICS))
    if unknown:
        raise PublishedFileError(f"{where}: unknown metrics {', '.join(unknown)} (known: {', '.join(METRICS)})")
    df["value"] = values
    return df
