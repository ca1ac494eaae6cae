"""Section normalisation: each section's tile features scaled against its own ordinary tissue tiles.

Image-based profiling normalises each plate against its control cells before anything is clustered (Caicedo et
al., Nature Methods 2017; pycytominer's `normalize`). Here the plate is the section (an image of the data file)
and the controls are its ordinary tissue tiles (tiles neither in nor next to a found island:
sections.ordinary_tiles). `normalised` does it with scikit-learn's scalers, which compute what pycytominer's
three methods compute without its table layer. bench/section_levers.py measures it as a lever of the typing;
the island pipeline does not use it (it lost there: docs/method.md).
"""

from __future__ import annotations

import numpy as np

NORMALISATIONS = ("standardize", "robustize", "spherize")  # pycytominer's names for the same three methods


def normalised(features: np.ndarray, section: np.ndarray, controls: np.ndarray, how: str) -> np.ndarray:
    """Tile features (N, d) normalised per section (`section`: a number per tile) against that section's `controls`
    (bool per tile): "standardize" (mean and standard deviation: StandardScaler), "robustize" (median and
    interquartile range: RobustScaler) or "spherize" (whitened principal components: PCA with whiten=True). A
    section with too few control tiles (at most 2, or for spherize at most as many as features) keeps its
    features."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import RobustScaler, StandardScaler

    if how not in NORMALISATIONS:
        raise ValueError(f"normalisation {how!r}: use one of {', '.join(NORMALISATIONS)}")
    make = {"standardize": StandardScaler, "robustize": RobustScaler, "spherize": lambda: PCA(whiten=True)}[how]
    out = features.astype(float)
    least = features.shape[1] if how == "spherize" else 2
    for k in np.unique(section):
        on, reference = section == k, (section == k) & controls
        if reference.sum() > least:
            out[on] = make().fit(features[reference]).transform(features[on])
    return out
