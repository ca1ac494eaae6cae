"""From optical density to grey values: Beer-Lambert, optics, noise; per-brain and per-section style.

Each brain has its own stain strength, glass brightness, blur and noise (STYLES, fitted by
bench/calibrate_styles.py so that the per-brain mean of image means and mean of image standard
deviations land near the real file's figures). On top of that every section varies: stain strength
and background level per section, and slowly varying staining and illumination within it, so that
brightness alone is a weak cue for what a tile shows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image
from scipy import ndimage

from islandvae.data.synth.fields import coarse_shape, smooth_noise, upsample


@dataclass(frozen=True)
class Style:
    """How one brain was stained and photographed."""

    background: float  # grey level of clear glass, 0..255
    neuropil: float  # optical density of the stained neuropil between the cells (background staining)
    gain: float  # stain strength: multiplies all optical density
    blur: float  # optical blur, Gaussian sigma in px
    photons: float  # photons per grey level: shot noise variance is grey / photons
    read_noise: float  # grey levels
    jpeg: int = 0  # quality of a JPEG round trip; 0 for none


# neuropil and gain: fitted by bench/calibrate_styles.py jointly on the `small` and `full` presets (seed 0,
# 40 images per brain each); background, blur, noise and JPEG are set by hand.
STYLES = {
    "B01": Style(background=240.0, neuropil=0.204, gain=0.917, blur=0.7, photons=1.2, read_noise=1.5),
    "B02": Style(background=236.0, neuropil=0.341, gain=0.59, blur=0.8, photons=1.5, read_noise=1.2, jpeg=92),
    "B05": Style(background=242.0, neuropil=0.243, gain=0.532, blur=0.6, photons=1.5, read_noise=1.2),
    "B07": Style(background=246.0, neuropil=0.174, gain=0.453, blur=0.9, photons=2.0, read_noise=1.0, jpeg=90),
    "B20": Style(background=234.0, neuropil=0.235, gain=0.922, blur=1.0, photons=1.0, read_noise=2.0),
}
DEFAULT_STYLE = Style(background=240.0, neuropil=0.1, gain=1.0, blur=0.8, photons=1.5, read_noise=1.5)
SECTION_GAIN_SPREAD = 0.15  # log-normal spread of stain strength between sections of one brain
SECTION_NEUROPIL_SPREAD = 0.2  # log-normal spread of background staining between sections
GLASS_SPREAD = 3.0  # grey levels
# The robustness set "every section imaged differently" (Options.section_imaging = 1) draws each section's
# stain strength, background staining, glass level, blur, noise and gamma anew, with these log-normal spreads
# (glass: grey levels) times the option: sections of one brain then differ as much as brains do here.
IMAGING_SPREAD = {"gain": 0.35, "neuropil": 0.5, "background": 8.0, "blur": 0.5, "photons": 0.5, "gamma": 0.25}
GAMMA_RANGE = (0.65, 1.5)  # a scanner's response curve stays within this


def section_style(style: Style, rng: np.random.Generator) -> Style:
    """The brain's style as one section received it."""
    return replace(
        style,
        background=float(np.clip(style.background + rng.normal(0, GLASS_SPREAD), 150, 252)),
        gain=float(style.gain * np.exp(rng.normal(0, SECTION_GAIN_SPREAD))),
        neuropil=float(style.neuropil * np.exp(rng.normal(0, SECTION_NEUROPIL_SPREAD))),
    )


def imaged_differently(style: Style, strength: float, rng: np.random.Generator) -> tuple[Style, float]:
    """One section's style and gamma when every section is stained and scanned on its own (IMAGING_SPREAD times
    `strength`)."""

    def spread(name: str) -> float:
        return float(np.exp(rng.normal(0, IMAGING_SPREAD[name] * strength)))

    varied = replace(
        style,
        gain=style.gain * spread("gain"),
        neuropil=style.neuropil * spread("neuropil"),
        background=float(np.clip(style.background + rng.normal(0, IMAGING_SPREAD["background"] * strength), 150, 252)),
        blur=style.blur * spread("blur"),
        photons=style.photons * spread("photons"),
    )
    return varied, float(np.clip(spread("gamma"), *GAMMA_RANGE))


def form_image(
    od: np.ndarray,
    tissue: np.ndarray,
    style: Style,
    rng: np.random.Generator,
    *,
    size: tuple[int, int] | None = None,
    gamma: float = 1.0,
) -> np.ndarray:
    """Grey values (uint8) of cells (`od`) in neuropil (`tissue`) under `style`, with noise. `size`: the scan's
    pixels (H, W) when the scene was drawn finer (each scan pixel the mean of the scene's pixels it covers, noise
    added after); `gamma`: the scanner's response, grey = 255 (grey / 255) ** gamma."""
    h, w = od.shape
    staining = 1 + 0.08 * upsample(smooth_noise(coarse_shape(h, w), 12, rng), h, w)
    light = style.background * (1 - 0.03 * upsample(smooth_noise(coarse_shape(h, w), 20, rng), h, w))
    grey = light * np.power(10.0, -style.gain * staining * (od + style.neuropil * tissue), dtype=np.float32)
    grey = ndimage.gaussian_filter(grey, style.blur)
    if size is not None:
        resized = Image.fromarray(grey.astype(np.float32)).resize(size[::-1], Image.Resampling.BOX)
        grey = np.array(resized, dtype=np.float32)
        h, w = size
    if gamma != 1.0:
        grey = 255 * np.power(np.clip(grey, 0, None) / 255, gamma, dtype=np.float32)
    # Poisson-Gaussian noise, with the Poisson part in its Gaussian approximation (variance = mean / photons).
    noise = rng.standard_normal((h, w), dtype=np.float32)
    grey += noise * np.sqrt(grey / style.photons + style.read_noise**2)
    pixels = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    if style.jpeg:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=style.jpeg)
        pixels = np.asarray(Image.open(io.BytesIO(buffer.getvalue())), dtype=np.uint8)
    return pixels
