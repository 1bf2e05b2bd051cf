"""Human3.6M facts from the official metadata.xml, as documented constants (re-derived in tests).

`SEQUENCES[s]` lists, for subject s, the released file base name of (action a, subaction k) for a = 2..16
(action 1, `_ALL`, is skipped) and k = 1, 2, in that order: `metadata.xml <mapping>` rows 2..31, column S<s>.
A name's digit is not its subaction (S5 "Discussion 2"/"Discussion 3"): names are looked up, never parsed.
Calibration: `<w0>[264 + 9·c : 273 + 9·c]` = fx, fy, cx, cy, k1, k2, k3, pA, pB of camera index c
(`<dbcameras><index2id>` order), equal for all subjects. Sizes: `<mapping>` last row, [H W] per camera.
Sources: research/raw-formats.md §1, eval-anchors.md §4 and §6.
"""
from __future__ import annotations

SUBJECTS: tuple[int, ...] = (1, 5, 6, 7, 8, 9, 11)
TRAIN_SUBJECTS: tuple[int, ...] = (1, 5, 6, 7, 8)
TEST_SUBJECTS: tuple[int, ...] = (9, 11)
CAMERAS: tuple[int, ...] = (54138969, 55011271, 58860488, 60457274)
ACTIONS: tuple[int, ...] = tuple(range(2, 17))
SUBACTIONS: tuple[int, ...] = (1, 2)

# metadata.xml <actionnames> (1-based), with the names the files and the literature use: Photo, WalkDog,
# WalkTogether (metadata: TakingPhoto, WalkingDog, WalkingTogether; S1's files keep TakingPhoto/WalkingDog).
ACTION_NAMES: dict[int, str] = {
    2: "Directions", 3: "Discussion", 4: "Eating", 5: "Greeting", 6: "Phoning", 7: "Posing", 8: "Purchases",
    9: "Sitting", 10: "SittingDown", 11: "Smoking", 12: "Photo", 13: "Waiting", 14: "Walking", 15: "WalkDog",
    16: "WalkTogether",
}
METADATA_ACTION_NAMES: dict[int, str] = {12: "TakingPhoto", 15: "WalkingDog", 16: "WalkingTogether"}

SEQUENCES: dict[int, tuple[str, ...]] = {
    1: (
        "Directions 1", "Directions", "Discussion 1", "Discussion", "Eating 2", "Eating",
        "Greeting 1", "Greeting", "Phoning 1", "Phoning", "Posing 1", "Posing",
        "Purchases 1", "Purchases", "Sitting 1", "Sitting 2", "SittingDown 2", "SittingDown",
        "Smoking 1", "Smoking", "TakingPhoto 1", "TakingPhoto", "Waiting 1", "Waiting",
        "Walking 1", "Walking", "WalkingDog 1", "WalkingDog", "WalkTogether 1", "WalkTogether",
    ),
    5: (
        "Directions 1", "Directions 2", "Discussion 2", "Discussion 3", "Eating 1", "Eating",
        "Greeting 1", "Greeting 2", "Phoning 1", "Phoning", "Posing 1", "Posing",
        "Purchases 1", "Purchases", "Sitting 1", "Sitting", "SittingDown", "SittingDown 1",
        "Smoking 1", "Smoking", "Photo", "Photo 2", "Waiting 1", "Waiting 2",
        "Walking 1", "Walking", "WalkDog 1", "WalkDog", "WalkTogether 1", "WalkTogether",
    ),
    6: (
        "Directions 1", "Directions", "Discussion 1", "Discussion", "Eating 1", "Eating 2",
        "Greeting 1", "Greeting", "Phoning 1", "Phoning", "Posing 2", "Posing",
        "Purchases 1", "Purchases", "Sitting 1", "Sitting 2", "SittingDown 1", "SittingDown",
        "Smoking 1", "Smoking", "Photo", "Photo 1", "Waiting 3", "Waiting",
        "Walking 1", "Walking", "WalkDog 1", "WalkDog", "WalkTogether 1", "WalkTogether",
    ),
    7: (
        "Directions 1", "Directions", "Discussion 1", "Discussion", "Eating 1", "Eating",
        "Greeting 1", "Greeting", "Phoning 2", "Phoning", "Posing 1", "Posing",
        "Purchases 1", "Purchases", "Sitting 1", "Sitting", "SittingDown", "SittingDown 1",
        "Smoking 1", "Smoking", "Photo", "Photo 1", "Waiting 1", "Waiting 2",
        "Walking 1", "Walking 2", "WalkDog 1", "WalkDog", "WalkTogether 1", "WalkTogether",
    ),
    8: (
        "Directions 1", "Directions", "Discussion 1", "Discussion", "Eating 1", "Eating",
        "Greeting 1", "Greeting", "Phoning 1", "Phoning", "Posing 1", "Posing",
        "Purchases 1", "Purchases", "Sitting 1", "Sitting", "SittingDown", "SittingDown 1",
        "Smoking 1", "Smoking", "Photo 1", "Photo", "Waiting 1", "Waiting",
        "Walking 1", "Walking", "WalkDog 1", "WalkDog", "WalkTogether 1", "WalkTogether 2",
    ),
    9: (
        "Directions 1", "Directions", "Discussion 1", "Discussion 2", "Eating 1", "Eating",
        "Greeting 1", "Greeting", "Phoning 1", "Phoning", "Posing 1", "Posing",
        "Purchases 1", "Purchases", "Sitting 1", "Sitting", "SittingDown", "SittingDown 1",
        "Smoking 1", "Smoking", "Photo 1", "Photo", "Waiting 1", "Waiting",
        "Walking 1", "Walking", "WalkDog 1", "WalkDog", "WalkTogether 1", "WalkTogether",
    ),
    11: (
        "Directions 1", "Directions", "Discussion 1", "Discussion 2", "Eating 1", "Eating",
        "Greeting 2", "Greeting", "Phoning 3", "Phoning 2", "Posing 1", "Posing",
        "Purchases 1", "Purchases", "Sitting 1", "Sitting", "SittingDown", "SittingDown 1",
        "Smoking 2", "Smoking", "Photo 1", "Photo", "Waiting 1", "Waiting",
        "Walking 1", "Walking", "WalkDog 1", "WalkDog", "WalkTogether 1", "WalkTogether",
    ),
}

# Camera id -> (fx, fy, cx, cy, k1, k2, k3, pA, pB) in pixels of the official video (metadata.xml <w0>).
CALIBRATION: dict[int, tuple[float, ...]] = {
    54138969: (1145.04940458804, 1143.78109572365, 512.541504956548, 515.4514869776,
               -0.207098910824901, 0.247775183068982, -0.00307515035078854,
               -0.00142447157470321, -0.000975698859470499),
    55011271: (1149.67569986785, 1147.59161666764, 508.848621645943, 508.064917088557,
               -0.194213629607385, 0.240408539138292, 0.00681997559022603, -0.0027408943961907, -0.001619026613787),
    58860488: (1149.14071676148, 1148.7989685676, 519.815837182153, 501.402658888552,
               -0.208338188251856, 0.255488007488945, -0.00246049749891915, -0.000759999321030303, 0.00148438698385668),
    60457274: (1145.51133842318, 1144.77392807652, 514.968197319863, 501.882018537695,
               -0.198384093827848, 0.218323676298049, -0.00894780704152122,
               -0.00181336200488089, -0.000587205583421232),
}

# Official video sizes (width, height): metadata.xml gives [H W] = [1002 1000] for cameras 1 and 4 and
# [1000 1000] for 2 and 3, except S7 (and S4, S10) with 1002 rows on all four; VideoPose3D hard-codes the
# per-camera values. A video of any of these sizes is taken to be at the official resolution.
OFFICIAL_SIZES: frozenset[tuple[int, int]] = frozenset({(1000, 1002), (1000, 1000)})
CAMERA_SIZES: dict[int, tuple[int, int]] = {54138969: (1000, 1002), 55011271: (1000, 1000),
                                          58860488: (1000, 1000), 60457274: (1000, 1002)}
METADATA_SIZES: dict[int, tuple[tuple[int, int], ...]] = {
    s: (((1000, 1002),) * 4 if s == 7 else ((1000, 1002), (1000, 1000), (1000, 1000), (1000, 1002)))
    for s in SUBJECTS
}

# The corrupt view of the real release (h36m-fetch #3; 3d-pose-baseline #34): the h36m protocol excludes it.
CORRUPT_VIEWS: tuple[tuple[int, str, int], ...] = ((11, "Directions", 54138969),)

# Server archive names Poses/<Kind>/SubjectSpecific_<k>.tgz and Videos/SubjectSpecific_<k>.tgz: k per subject.
SERVER_INDEX: dict[int, int] = {1: 1, 5: 6, 6: 7, 7: 2, 8: 3, 9: 4, 11: 5}
POSE_KINDS: tuple[str, ...] = ("D2_Positions", "D3_Positions", "D3_Positions_mono", "D3_Positions_mono_universal")

# Published MD5 sums of the per-subject archives (testdata/h36m/archive-md5sums.txt, as h36m-fetch lists them).
ARCHIVE_MD5: dict[str, str] = {
    "Poses_D2_Positions_S1.tgz": "69e038858ace96ba5f6c5ccea52e95e8",
    "Poses_D3_Positions_S1.tgz": "d4ae2827d0227dea8c88e6a082763d0a",
    "Poses_D3_Positions_mono_S1.tgz": "4c844740ba583517c74b6c496c190761",
    "Poses_D3_Positions_mono_universal_S1.tgz": "3c75f06fdf3c4f3b8fb1f8f11d18a10e",
    "Videos_S1.tgz": "d517e6c0b1112427b2a39fcbd732281c",
    "Poses_D2_Positions_S5.tgz": "7ac8c4830468a1ed3464076ee9603632",
    "Poses_D3_Positions_S5.tgz": "7a0bd0f458612decc9de0a04e0b589cc",
    "Poses_D3_Positions_mono_S5.tgz": "4e14165ed00b7aff1111a81c1ca4b7b3",
    "Poses_D3_Positions_mono_universal_S5.tgz": "a0c821f5501fcc450e28c38e5ebd0c17",
    "Videos_S5.tgz": "02ef041813c3a37b137f86df24419e5a",
    "Poses_D2_Positions_S6.tgz": "5f9706d5259f648cca802c069dec9681",
    "Poses_D3_Positions_S6.tgz": "0970a30cbc947c3c0454c834db9b84e0",
    "Poses_D3_Positions_mono_S6.tgz": "9681696b33a0d487493330e825b408d6",
    "Poses_D3_Positions_mono_universal_S6.tgz": "dce0fb2f44b487b2bd36f603d1ff894a",
    "Videos_S6.tgz": "a4b8690e5320c5854f99f60bf31cbabc",
    "Poses_D2_Positions_S7.tgz": "543c4053c962db54d1d7361d4accffb4",
    "Poses_D3_Positions_S7.tgz": "abeea2a40650517cefb7cd911caa6472",
    "Poses_D3_Positions_mono_S7.tgz": "807109c1a304ce67c6f0cc06a94846fc",
    "Poses_D3_Positions_mono_universal_S7.tgz": "848717a95a96336ec7707b20ec463965",
    "Videos_S7.tgz": "79caf93c6ec31b1c14cd1d31d5f292e0",
    "Poses_D2_Positions_S8.tgz": "e9de190d782452edc954ac191907adcf",
    "Poses_D3_Positions_S8.tgz": "5695796fe478579ffe9b9ff09203dd27",
    "Poses_D3_Positions_mono_S8.tgz": "da8b6c948e7dcd280061cd4d99d7352f",
    "Poses_D3_Positions_mono_universal_S8.tgz": "8f5182924c29721d9c4227aa43e3d7b3",
    "Videos_S8.tgz": "18818148e68fcd80fce1efa82f98126d",
    "Poses_D2_Positions_S9.tgz": "232c2244afae96cb900908c6825d478c",
    "Poses_D3_Positions_S9.tgz": "fce28bb66bf9908016e2d9738e5cb2db",
    "Poses_D3_Positions_mono_S9.tgz": "0fad285a69fdcdf4958cc4c80d93abbc",
    "Poses_D3_Positions_mono_universal_S9.tgz": "bbc436bc0f35bd09e272ad0ed1f188e2",
    "Videos_S9.tgz": "3e7d923d5c573ac833334a31b5f8a797",
    "Poses_D2_Positions_S11.tgz": "df1fde6b5656729336f54dcd79ab6e47",
    "Poses_D3_Positions_S11.tgz": "729e93d4e50c806f4a55fd1b87e2ff52",
    "Poses_D3_Positions_mono_S11.tgz": "944a8bca62a933f5d630a835868fba23",
    "Poses_D3_Positions_mono_universal_S11.tgz": "c00b5b22ed1b88de5a536433e300503e",
    "Videos_S11.tgz": "25c25250be8f75d7991dcbf74bb9d339",
}


def sequence_table() -> dict[tuple[int, int, int], str]:
    """(subject, action, subaction) -> released sequence file base name."""
    return {(s, a, k): names[2 * (a - 2) + (k - 1)]
            for s, names in SEQUENCES.items() for a in ACTIONS for k in SUBACTIONS}


def server_names() -> dict[str, str]:
    """Published name (Poses_<kind>_S<n>.tgz, Videos_S<n>.tgz) -> server path (<kind dir>/SubjectSpecific_<k>.tgz)."""
    out = {}
    for s, k in SERVER_INDEX.items():
        for kind in POSE_KINDS:
            out[f"Poses_{kind}_S{s}.tgz"] = f"Poses/{kind}/SubjectSpecific_{k}.tgz"
        out[f"Videos_S{s}.tgz"] = f"Videos/SubjectSpecific_{k}.tgz"
    return out
