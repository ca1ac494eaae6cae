"""How each section was imaged, and tiles shown to the encoder as another section would have shown them.

The course file is a series of sections, each stained and scanned on its own; here a section is an image of the
data file. `section_statistics` describes each section's ordinary tissue by four numbers measured on its pixels:
grey level, contrast, sharpness and noise (`tile_statistics`, medians over tissue tiles). `imaging_spread` turns
the spread of the training sections' statistics into the ranges of an augmentation (`vary_imaging`): each training
tile seen as if stained darker or lighter (a power law on the grey values, which is how stain strength and a
scanner's gamma act), scanned blurrier and noisier. The ranges come from the data being trained on, never from
a generator's settings: the power from the spread of the sections' contrast, the blur from the spread of their
sharpness, the noise from the spread of their noise levels. The encoder sees the varied tile and the decoder
reconstructs the tile as it was (a denoising objective, as ME-VAE, Ternes et al., Communications Biology 2022),
so the latent need not spend numbers on how a section was imaged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy import ndimage

from islandvae.data.hdf5 import ImageSource
from islandvae.data.stats import PixelStats
from islandvae.tiles.sampler import fixed_tiles
from islandvae.tiles.tissue import TissueMap

STATISTICS = ("grey level", "contrast", "sharpness", "noise")
SAMPLE_TILES = 48  # tissue tiles per section that its statistics are measured on
BANDS = (1.0, 2.0, 4.0)  # px: sharpness is the contrast between blurs of 1 and 2 px over that between 2 and 4 px
# (two octave bands above the pixel noise, which a 1 px blur mostly removes: optical blur lowers the first far more)
BLURS = np.arange(0.0, 4.01, 0.1)  # px: the augmentation's blur is looked up on this grid
COVERED = (5, 95)  # percentiles of the training sections that the augmentation's ranges span


def tile_statistics(grey: np.ndarray) -> np.ndarray:
    """Per tile of grey values (N, h, w): mean grey level, contrast (standard deviation), sharpness (the contrast
    of the finer of two octave bands, BANDS, over that of the coarser) and noise (robust spread of what a 1 px
    blur removes), (N, 4)."""
    grey = grey.astype(np.float32)
    a, b, c = (ndimage.gaussian_filter(grey, (0, s, s)) for s in BANDS)
    sharp = (a - b).std(axis=(1, 2)) / np.maximum((b - c).std(axis=(1, 2)), 1e-3)
    fine = grey - a
    centred = fine - np.median(fine, axis=(1, 2), keepdims=True)
    noise = 1.4826 * np.median(np.abs(centred), axis=(1, 2))
    return np.stack([grey.mean(axis=(1, 2)), grey.std(axis=(1, 2)), sharp, noise], axis=1)


def section_statistics(images: ImageSource, tissue: TissueMap, *, tile: int, seed: int = 0) -> np.ndarray:
    """Per image of `images` (a section): the median of tile_statistics over up to SAMPLE_TILES of its tissue tiles
    (seeded), (n_images, 4); nan for an image without a tissue tile."""
    infos = images.infos()
    out = np.full((len(infos), len(STATISTICS)), np.nan)
    for k in range(len(infos)):
        keys = section_tiles(infos, tissue, k, tile=tile, seed=seed)
        if keys:
            out[k] = np.median(tile_statistics(grey_tiles(images, keys)), axis=0)
    return out


def section_tiles(infos: list, tissue: TissueMap, k: int, *, tile: int, seed: int = 0) -> list:
    """Up to SAMPLE_TILES tissue tiles of image k (seeded by `seed` and k)."""
    return fixed_tiles(
        [infos[k]],
        tile_size=tile,
        count=SAMPLE_TILES,
        seed=int(seed + k),
        strategy="tissue",
        tissue=TissueMap(blocks=[tissue.blocks[k]]),
    )


def grey_tiles(images: ImageSource, keys: list) -> np.ndarray:
    """The grey values of tiles (N, s, s), cut at the image border as the tiles are."""
    s = keys[0][4]
    out = np.zeros((len(keys), s, s), dtype=np.uint8)
    for j, (brain, name, row, col, _) in enumerate(keys):
        block = images.region(brain, name, row, col, s, s)
        out[j, : block.shape[0], : block.shape[1]] = block
    return out


@dataclass(frozen=True)
class ImagingSpread:
    """The ranges of the imaging augmentation: grey -> glass * (grey / glass) ** p with log p uniform in
    [-power, power]; a Gaussian blur of sigma uniform in [0, blur] px; Gaussian noise of std uniform in [0, noise]
    grey levels; `glass`: the grey level the power law keeps (the brightest tissue, clear glass)."""

    power: float
    blur: float
    noise: float
    glass: float

    def as_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


def imaging_spread(images: ImageSource, tissue: TissueMap, *, tile: int, seed: int = 0) -> ImagingSpread:
    """The augmentation's ranges from the spread of the sections of `images` (the training brains), spanning the
    COVERED percentiles of their section_statistics: the power from the spread of log contrast over grey level
    (a power p scales a section's contrast in log grey values by p), the blur from the sharpness (the blur that
    brings the sharpest sections' tissue tiles down to the bluntest sections' sharpness), the noise from the noise
    levels (what must be added to the quietest section to reach the noisiest)."""
    statistics = section_statistics(images, tissue, tile=tile, seed=seed)
    have = np.isfinite(statistics).all(axis=1)
    grey, contrast, sharp, noise = statistics[have].T
    lo, hi = np.percentile(np.log(contrast / grey), COVERED)
    sharp_lo, sharp_hi = np.percentile(sharp, COVERED)
    sharpest = [k for k in np.flatnonzero(have) if statistics[k, 2] >= sharp_hi] or [
        int(np.nanargmax(statistics[:, 2]))
    ]
    keys = [key for k in sharpest for key in section_tiles(images.infos(), tissue, k, tile=tile, seed=seed)]
    tiles = grey_tiles(images, keys).astype(np.float32)
    ratio = np.array(
        [np.median(tile_statistics(ndimage.gaussian_filter(tiles, (0, b, b)) if b else tiles)[:, 2]) for b in BLURS]
    )
    reached = ratio / ratio[0] <= sharp_lo / max(sharp_hi, 1e-6)
    noise_lo, noise_hi = np.percentile(noise, COVERED)
    blur = BLURS[np.argmax(reached)] if reached.any() else BLURS[-1]
    return ImagingSpread(
        power=float((hi - lo) / 2),
        blur=float(blur),
        noise=float(np.sqrt(max(noise_hi**2 - noise_lo**2, 0.0))),
        glass=float(np.clip(np.percentile(grey + 2 * contrast, 95), 1, 255)),
    )


def vary_imaging(
    tiles: torch.Tensor, spread: ImagingSpread, stats: PixelStats, *, generator: torch.Generator
) -> torch.Tensor:
    """Standardised tiles (B, 1, s, s) as another section would have shown them: per tile a power law on the grey
    values, a blur and noise drawn within `spread` (seeded by `generator`); standardised again."""
    b = tiles.shape[0]
    draw = torch.rand(b, 3, generator=generator).to(tiles)
    grey = (tiles * stats.std + stats.mean).clamp(1.0, 255.0)
    power = torch.exp((2 * draw[:, 0] - 1) * spread.power)[:, None, None, None]
    grey = spread.glass * (grey / spread.glass) ** power
    if spread.blur > 0:
        grey = blur_each(grey, draw[:, 1] * spread.blur)
    noise = torch.randn(tiles.shape, generator=generator).to(tiles) * (draw[:, 2] * spread.noise)[:, None, None, None]
    return (grey + noise - stats.mean) / stats.std


def blur_each(x: torch.Tensor, sigma: torch.Tensor, *, half: int | None = None) -> torch.Tensor:
    """(B, 1, s, s) tiles each blurred with its own Gaussian of `sigma` (B,) px (0: unchanged), reflecting at the
    borders; the kernel reaches `half` px either side (default: 3 sigma of the widest)."""
    b, s = x.shape[0], x.shape[-1]
    half = max(1, min(int(np.ceil(3 * float(sigma.max()))), s - 1)) if half is None else half
    taps = torch.arange(-half, half + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (taps[None] / sigma.clamp_min(1e-3)[:, None]) ** 2)
    kernel = kernel / kernel.sum(1, keepdim=True)  # (B, 2 half + 1); sigma ~ 0 is the identity
    y = x.reshape(1, b, s, s)
    pad = torch.nn.functional.pad
    y = torch.nn.functional.conv2d(pad(y, (half, half, 0, 0), mode="reflect"), kernel[:, None, None, :], groups=b)
    y = torch.nn.functional.conv2d(pad(y, (0, 0, half, half), mode="reflect"), kernel[:, None, :, None], groups=b)
    return y.reshape(x.shape)
