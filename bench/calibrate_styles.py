"""Fit each brain's neuropil staining and stain strength to the real file's grey-value figures.

    .venv/bin/python bench/calibrate_styles.py [--images 40] [--presets small full]

Draws the optical-density scenes of the first images of each brain of the presets (seed 0), then
solves, per brain, for `neuropil` and `gain` so that the mean of image means and the mean of image
standard deviations match data-spec section 1, jointly for the presets (each preset's error counts),
using Beer-Lambert on a pixel sample (blur, JPEG and the slow staining fields are left out of the fit;
`islandvae calibration` checks the real output). Prints the values to copy into synth/optics.py STYLES.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
from scipy.optimize import least_squares

from islandvae.data.layout import REAL_GREY
from islandvae.data.synth.artefacts import add_artefacts
from islandvae.data.synth.cells import SpriteBank
from islandvae.data.synth.generate import DEFAULT_DIFFICULTY, PRESETS, make_plans
from islandvae.data.synth.optics import (
    GLASS_SPREAD,
    SECTION_GAIN_SPREAD,
    SECTION_NEUROPIL_SPREAD,
    STYLES,
    Style,
)
from islandvae.data.synth.scene import build_scene


def sample(plan, bank: SpriteBank, style: Style) -> tuple:
    """The section draws and a pixel sample of one image, with the same random draws as generate.render."""
    rng = np.random.default_rng(plan.seed)
    scene = build_scene(plan, bank, rng)
    add_artefacts(scene.od, scene.mask, scene.tissue, rng)
    glass = np.clip(style.background + rng.normal(0, GLASS_SPREAD), 150, 252)
    gain_factor = np.exp(rng.normal(0, SECTION_GAIN_SPREAD))
    neuropil_factor = np.exp(rng.normal(0, SECTION_NEUROPIL_SPREAD))
    pick = np.random.default_rng(1).integers(0, scene.od.size, 100_000)
    return glass, gain_factor, neuropil_factor, scene.od.ravel()[pick], scene.tissue.ravel()[pick]


def predicted(samples: list[tuple], style: Style, neuropil: float, gain: float) -> tuple[float, float]:
    """Mean of image means and mean of image stds that `neuropil` and `gain` would give."""
    means, stds = [], []
    for glass, gain_factor, neuropil_factor, od, tissue in samples:
        grey = np.clip(glass * 10 ** (-gain * gain_factor * (od + neuropil * neuropil_factor * tissue)), 0, 255)
        means.append(grey.mean())
        stds.append(np.sqrt(grey.var() + grey.mean() / style.photons + style.read_noise**2))
    return float(np.mean(means)), float(np.mean(stds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40, help="images per brain and preset to fit on")
    parser.add_argument("--presets", nargs="+", default=["small", "full"], choices=["small", "full"])
    args = parser.parse_args()
    bank = SpriteBank(0, DEFAULT_DIFFICULTY)
    plans = {p: make_plans(PRESETS[p], 0, DEFAULT_DIFFICULTY) for p in args.presets}
    for brain, target in REAL_GREY.items():
        style = STYLES[brain]
        groups = [
            [sample(plan, bank, style) for plan in [x for x in plans[p] if x.brain == brain][: args.images]]
            for p in args.presets
        ]

        def residuals(params):
            return np.concatenate([np.subtract(predicted(g, style, *params), target) for g in groups])

        fit = least_squares(residuals, [style.neuropil, style.gain], bounds=([0, 0.2], [1.5, 6]))
        neuropil, gain = fit.x
        print(
            f"{brain}: neuropil={neuropil:.3f}, gain={gain:.3f}  residuals (mean, std per preset) "
            f"{np.round(fit.fun, 1).tolist()} -> "
            f"{replace(style, neuropil=round(float(neuropil), 3), gain=round(float(gain), 3))}"
        )


if __name__ == "__main__":
    main()
