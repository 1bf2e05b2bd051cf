"""Reports from stored runs, one module per job; the public names are re-exported here.

tables (four formats) · published (published.csv) · comparability (its columns) · intervals (run label and
bootstrap intervals) · leaderboard · compare (two runs) · run (the per-run report) · plots (figures; imported
on use, as matplotlib is slow to load). Imported from their own modules: paper_tables (the paper's tables and
run overlays) and site (the static HTML site).
"""
from __future__ import annotations

from posebench.report.comparability import COMPARABILITY, comparability, differences, frames_description, joints_name
from posebench.report.compare import CompareError, compare_runs
from posebench.report.intervals import metric_interval, run_label
from posebench.report.leaderboard import (LEADERBOARD_HEADER, PROSE_KEYS, Board, build_leaderboard, current_data,
                                          render_leaderboard, stale_reasons, write_leaderboard)
from posebench.report.published import PUBLISHED_COLUMNS, PublishedFileError, load_published
from posebench.report.run import (group_names, joint_groups_for, load_poses, summary_table, worst_case_figure,
                                  write_report)
from posebench.report.tables import FORMATS, latex_escape, render, to_csv, to_json, to_latex, to_markdown
from posebench.results import RunLookupError, resolve_run

__all__ = [
    "COMPARABILITY", "FORMATS", "LEADERBOARD_HEADER", "PROSE_KEYS", "PUBLISHED_COLUMNS", "Board", "CompareError",
    "PublishedFileError", "RunLookupError", "build_leaderboard", "compare_runs", "comparability", "current_data",
    "differences", "frames_description", "group_names", "joint_groups_for", "joints_name", "latex_escape",
    "load_poses", "load_published", "metric_interval", "render", "render_leaderboard", "resolve_run", "run_label",
    "stale_reasons", "summary_table", "to_csv", "to_json", "to_latex", "to_markdown", "worst_case_figure",
    "write_leaderboard", "write_report",
]
