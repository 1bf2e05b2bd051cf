"""The comparability columns (published.csv's vocabulary) of a protocol's metric, and what keeps a row apart."""
from __future__ import annotations


from posebench.protocols import Protocol
from posebench.skeleton import JOINT_SETS


COMPARABILITY = ("joints", "alignment", "reflections", "frames", "aggregation", "labels", "ground_truth", "scaling",
                 "multicrop")
# The columns a protocol fixes (multicrop is a model option): a published row listed under another protocol of the
# same dataset is shown on a board when these all match the board's for its metric.
PROTOCOL_COLUMNS = tuple(c for c in COMPARABILITY if c != "multicrop")
# Values that say the source does not tell: they never match, and the leaderboard names them.
UNSTATED = ("not stated", "unknown")

# A protocol's target column, in the words of the dataset's own files (published.csv's `ground_truth` vocabulary).
GROUND_TRUTH = {
    ("h36m", "joints3d"): "D3_Positions_mono",
    ("h36m", "joints3d_univ"): "D3_Positions_mono_universal",
    ("mpi3dhp", "joints3d"): "annot3",
    ("mpi3dhp", "joints3d_univ"): "univ_annot3",
    ("mpi3dhp", "joints3d_univ_from_annot3"): "annot3 / universal scale (MargiPose code)",
}


def joints_name(joints: tuple[int, ...]) -> str:
    """`all17`, `vnect14`, `no_root16`, or the count, for a metric's scored joints."""
    for name, label in (("all", "all17"), ("vnect14", "vnect14"), ("no_root", "no_root16")):
        if tuple(joints) == JOINT_SETS[name]:
            return label
    return f"{len(joints)} joints"


def frames_description(protocol: Protocol) -> str:
    """Which rows a protocol scores, in the words published.csv's `frames` column uses."""
    sel = protocol.selection
    parts = []
    if sel.subjects:
        parts.append("+".join(f"S{s}" for s in sel.subjects))
    if sel.frame_stride > 1:
        parts.append(f"every {sel.frame_stride}th frame")
    elif not sel.valid_only:
        parts.append("every frame")
    if sel.valid_only:
        parts.append("valid frames only")
    for ex in sel.exclude:
        bits = [f"S{ex.subject}" if ex.subject is not None else None, ex.sequence, ex.action,
                f"cam {ex.camera}" if ex.camera is not None else None]
        parts.append("minus " + "/".join(b for b in bits if b))
    return ", ".join(parts)


def ground_truth_name(protocol: Protocol) -> str:
    """What a protocol scores against, in the dataset's words (the target column's name if the pair is new)."""
    return GROUND_TRUTH.get((protocol.dataset, protocol.target), protocol.target)


def comparability(protocol: Protocol, metric: str, labels: str | None, multicrop: bool = False) -> dict[str, str]:
    """The comparability columns of a protocol's metric (as a local run scored it)."""
    m = protocol.metric(metric)
    align = "procrustes" if m.align.startswith("procrustes") else m.align
    reflections = {"procrustes": "excluded", "procrustes_reflect": "allowed"}.get(m.align, "n/a")
    scaling = ("knee_neck_920" if protocol.rescale == "knee_neck_920"
               else "gt_root_depth" if "root_depth" in protocol.granted else "none")
    return {"joints": joints_name(m.joints), "alignment": align, "reflections": reflections,
            "frames": frames_description(protocol), "aggregation": m.aggregate, "labels": labels or "n/a",
            "ground_truth": ground_truth_name(protocol), "scaling": scaling, "multicrop": "yes" if multicrop else "no"}


def differences(row: dict[str, str], reference: dict[str, str]) -> list[str]:
    """What keeps a row from being comparable: the columns its source does not state (`not stated`) or that cannot
    be told from it (`unknown`), then `column theirs vs ours`."""
    q = lambda v: f"'{v}'" if " " in str(v) else str(v)  # noqa: E731
    value = {c: str(row.get(c, "not stated")) for c in COMPARABILITY}
    out = [f"{word}: {', '.join(cs)}" for word in UNSTATED if (cs := [c for c in COMPARABILITY if value[c] == word])]
    out += [f"{c} {q(value[c])} vs {q(reference[c])}" for c in COMPARABILITY
            if value[c] not in UNSTATED and value[c] != reference[c]]
    return out


def matches(row: dict[str, str], reference: dict[str, str], columns: tuple[str, ...] = PROTOCOL_COLUMNS) -> bool:
    """Whether a row agrees with a board's comparability (``reference``) on every one of ``columns``."""
    return all(str(row.get(c, "not stated")) == reference[c] for c in columns)
