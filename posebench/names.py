"""MPI-INF-3DHP display names: activities, test sequences and scenes, as the official scripts print them.

The evaluation engine uses these to label and order tables (official row order: activities 1..7, then
TestSeq1..6); the preparer uses them to fill the `activity`, `sequence` and `scene` columns.
"""
from __future__ import annotations

# activity_annotation 1..7 -> the row names of mpii_evaluate_errors.m (official_activitywise.csv).
ACTIVITIES: dict[int, str] = {
    1: "Standing/Walking", 2: "Exercising", 3: "Sitting", 4: "Reaching/Crouching",
    5: "On The Floor", 6: "Sports", 7: "Miscellaneous",
}
ALL_ROW = "All"  # the pooled (frame-weighted) row the official activity table ends with

# Test sequences as the prepared file names them -> as the official sequence table prints them.
SEQUENCES: dict[str, str] = {f"TS{k}": f"TestSeq{k}" for k in range(1, 7)}

# Scene of each test sequence (official README: green screen, no green screen, outdoor).
SEQUENCE_SCENE: dict[str, str] = {
    "TS1": "green_screen", "TS2": "green_screen", "TS3": "studio", "TS4": "studio",
    "TS5": "outdoor", "TS6": "outdoor",
}
SCENES: dict[str, str] = {"green_screen": "Green screen", "studio": "Studio (no green screen)",
                          "outdoor": "Outdoor"}


def activity_name(activity: int) -> str:
    """The official name of activity id 1..7 (ValueError otherwise)."""
    try:
        return ACTIVITIES[int(activity)]
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"MPI-INF-3DHP activity must be 1..7, got {activity!r}") from None


def sequence_name(sequence: str) -> str:
    """'TS3' -> 'TestSeq3' (the official display name)."""
    if sequence not in SEQUENCES:
        raise ValueError(f"unknown MPI-INF-3DHP test sequence {sequence!r}; expected one of {', '.join(SEQUENCES)}")
    return SEQUENCES[sequence]


def scene_of(sequence: str) -> str:
    """'TS5' -> 'outdoor'."""
    if sequence not in SEQUENCE_SCENE:
        raise ValueError(f"unknown MPI-INF-3DHP test sequence {sequence!r}; expected one of {', '.join(SEQUENCE_SCENE)}")
    return SEQUENCE_SCENE[sequence]


def display_name(key: str, value: object) -> str:
    """A table row label for a grouping key's value: activity ids and sequences get official names."""
    if key == "activity":
        return activity_name(int(value))  # type: ignore[arg-type]
    if key == "sequence" and str(value) in SEQUENCES:
        return SEQUENCES[str(value)]
    if key == "scene" and str(value) in SCENES:
        return SCENES[str(value)]
    return str(value)


def row_order(key: str) -> list[str]:
    """Official order of a grouping key's values as stored in prepared files (for sorting table rows)."""
    if key == "activity":
        return [str(k) for k in ACTIVITIES]
    if key == "sequence":
        return list(SEQUENCES)
    if key == "scene":
        return list(SCENES)
    raise ValueError(f"no official row order for grouping key {key!r}")
