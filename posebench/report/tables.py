"""Tables in four formats from a DataFrame: GitHub Markdown, LaTeX booktabs, CSV and JSON; `render` picks one."""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd


FORMATS = ("md", "csv", "latex", "json")


def _cell(v: Any, digits: int) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.{digits}f}"
    return str(v)


def to_markdown(df: pd.DataFrame, digits: int = 1, index: bool = True) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped; numeric columns right-aligned)."""
    frame = df.reset_index() if index else df
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    head = "| " + " | ".join(esc(c) for c in frame.columns) + " |"
    sep = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
    rows = ["| " + " | ".join(esc(_cell(v, digits)) for v in r) + " |" for r in frame.itertuples(index=False)]
    return "\n".join([head, sep, *rows]) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--",
                  "†": r"$^\dagger$", "≠": r"$\neq$"}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def to_latex(df: pd.DataFrame, digits: int = 1, index: bool = True) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``): one row per line, ``&``-separated, ``\\\\``-ended."""
    frame = df.reset_index() if index else df
    spec = "".join("r" if pd.api.types.is_numeric_dtype(frame[c]) else "l" for c in frame.columns)
    lines = [f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
             " & ".join(latex_escape(c) for c in frame.columns) + " \\\\", "\\midrule"]
    lines += [" & ".join(latex_escape(_cell(v, digits)) for v in r) + " \\\\" for r in frame.itertuples(index=False)]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def to_csv(df: pd.DataFrame, index: bool = True) -> str:
    return df.to_csv(index=index, lineterminator="\n")


def to_json(df: pd.DataFrame, index: bool = True) -> str:
    frame = df.reset_index() if index else df
    records = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
               for r in frame.to_dict(orient="records")]
    return json.dumps(records, indent=2, default=json_default) + "\n"


def json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def render(df: pd.DataFrame, fmt: str, digits: int = 1, index: bool = True) -> str:
    """One table in one of FORMATS."""
    if fmt == "md":
        return to_markdown(df, digits, index)
    if fmt == "latex":
        return to_latex(df, digits, index)
    if fmt == "csv":
        return to_csv(df, index)
    if fmt == "json":
        return to_json(df, index)
    raise ValueError(f"unknown table format {fmt!r} (one of {', '.join(FORMATS)})")
