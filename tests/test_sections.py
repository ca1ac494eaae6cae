"""Sections imaged differently: the generator options of the robustness panel, the sections' tissue statistics
(tiles/imaging.py), the imaging augmentation and the section confound of a typing (islands/sections.py)."""

import h5py
import numpy as np
import pytest
import torch

from islandvae.data.stats import PixelStats
from islandvae.data.synth import Options, generate
from islandvae.data.synth.generate import Preset
from islandvae.data.synth.optics import GAMMA_RANGE
from islandvae.data.truth import TruthFile, truth_path
from islandvae.errors import UserError
from islandvae.islands.records import Clusters, IslandResult, Sections, TruthScores, Typing
from islandvae.islands.sections import (
    follows_sections,
    section_confound,
    section_rows,
    sections_finding,
)
from islandvae.tiles.imaging import (
    ImagingSpread,
    blur_each,
    tile_statistics,
    vary_imaging,
)

PRESET = Preset(counts={"B01": 2, "B02": 2, "B05": 1, "B07": 1, "B20": 2}, max_side=600, scale=1.0)


def _images(path):
    with h5py.File(path) as f:
        return [(b, n) for b in f for n in f[b]]


def _statistics(path):
    with h5py.File(path) as f:
        grey = [f[b][n][()] for b in f for n in f[b]]
    tiles = np.stack(
        [g[g.shape[0] // 2 - 32 : g.shape[0] // 2 + 32, g.shape[1] // 2 - 32 : g.shape[1] // 2 + 32] for g in grey]
    )
    return tile_statistics(tiles)


def test_sections_imaged_differently_spread_their_statistics_and_keep_the_islands(tmp_path):
    plain = generate(tmp_path / "a.h5", preset=PRESET, seed=3, progress=False)
    varied = generate(tmp_path / "b.h5", preset=PRESET, seed=3, progress=False, options=Options(section_imaging=1.0))
    with TruthFile(truth_path(plain)) as a, TruthFile(truth_path(varied)) as b:  # the same scene, imaged otherwise
        for br, n in _images(plain):
            assert (a.mask(br, n) == b.mask(br, n)).all()
            assert a.info(br, n)["style"] != b.info(br, n)["style"] and "gamma" not in a.info(br, n)
            assert GAMMA_RANGE[0] <= b.info(br, n)["gamma"] <= GAMMA_RANGE[1]
        gammas = [b.info(br, n)["gamma"] for br, n in _images(plain)]
    assert np.std(np.log(gammas)) > 0.05  # drawn per section
    differ = np.abs(_statistics(varied) - _statistics(plain)) / np.abs(_statistics(plain)).clip(1e-3)
    assert np.median(differ[:, :3]) > 0.05  # grey level, contrast, sharpness moved
    with pytest.raises(UserError, match="section_imaging 3"):
        generate(tmp_path / "c.h5", preset=PRESET, progress=False, options=Options(section_imaging=3))


def test_a_coarser_scan_keeps_the_image_size_and_shrinks_the_islands(tmp_path):
    plain = generate(tmp_path / "a.h5", preset=PRESET, seed=4, progress=False)
    coarse = generate(tmp_path / "b.h5", preset=PRESET, seed=4, progress=False, options=Options(pixel_size=1.5))
    with TruthFile(truth_path(plain)) as a, TruthFile(truth_path(coarse)) as b:
        for br, n in _images(plain):
            assert a.mask(br, n).shape == b.mask(br, n).shape
    from islandvae.data.hdf5 import InMemoryImages
    from islandvae.islands.morphology import blob_sigma

    brains = ["B01", "B02", "B05", "B07", "B20"]
    sigma = [blob_sigma(InMemoryImages(p, brains, progress=False)) for p in (plain, coarse)]
    assert sigma[1] == pytest.approx(sigma[0] / 1.5, rel=0.2)  # cells 1.5 times smaller in px
    with pytest.raises(UserError, match="pixel_size 0.5"):
        generate(tmp_path / "c.h5", preset=PRESET, progress=False, options=Options(pixel_size=0.5))


def test_tile_statistics_see_blur_and_noise():
    rng = np.random.default_rng(0)
    from scipy import ndimage

    tiles = 128 + 40 * rng.standard_normal((6, 64, 64))
    tiles = ndimage.gaussian_filter(tiles, (0, 3, 3)) * 10 + 100
    blurred = ndimage.gaussian_filter(tiles, (0, 1.5, 1.5))
    noisy = tiles + 8 * rng.standard_normal(tiles.shape)
    base, b, n = (tile_statistics(t) for t in (tiles, blurred, noisy))
    assert (b[:, 2] < base[:, 2]).all()  # sharpness falls with blur
    assert (n[:, 3] > base[:, 3] + 3).all()  # noise rises with noise
    assert np.allclose(base[:, 0], tiles.mean(axis=(1, 2)))


def test_the_imaging_augmentation_varies_tiles_within_its_ranges():
    stats = PixelStats(min=0.0, max=255.0, mean=150.0, std=40.0, count=1, brains=("B01",))
    x = (torch.rand(8, 1, 32, 32) * 120 + 60 - stats.mean) / stats.std
    none = ImagingSpread(power=0.0, blur=0.0, noise=0.0, glass=220.0)
    same = vary_imaging(x, none, stats, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(same, x, atol=1e-4)  # zero ranges change nothing
    wide = ImagingSpread(power=0.5, blur=1.5, noise=10.0, glass=220.0)
    one = vary_imaging(x, wide, stats, generator=torch.Generator().manual_seed(1))
    two = vary_imaging(x, wide, stats, generator=torch.Generator().manual_seed(1))
    assert torch.equal(one, two) and not torch.allclose(one, x, atol=1e-2)  # seeded, and it does vary
    flat = torch.ones(2, 1, 16, 16)
    assert torch.allclose(blur_each(flat, torch.tensor([0.0, 2.0])), flat, atol=1e-5)  # a blur keeps a flat tile


def _islands(n_sections=6, per=4, seed=0):
    rng = np.random.default_rng(seed)
    section = np.repeat(np.arange(n_sections), per)
    kind = np.concatenate([rng.permutation(np.tile([0, 1], per // 2)) for _ in range(n_sections)])  # both on each
    statistics = rng.normal(size=(n_sections, 4))
    return rng, section, kind, statistics


def test_a_typing_that_follows_the_cells_is_not_flagged():
    rng, section, kind, statistics = _islands()
    axis = kind * 3.0 + 0.3 * rng.standard_normal(len(kind))
    descriptors = np.column_stack([axis, rng.standard_normal((len(kind), 3))])
    out = section_confound(descriptors, axis, kind, section, statistics)
    assert out["sections with several islands"] == 6 and out["section chance"] == pytest.approx(1 / 6)
    assert out["types ~ sections ARI"] < 0.1 and out["axis ~ section |r|"] < 0.3 and not follows_sections(out)
    assert out["section probe"] < 2 * out["section chance"]


def test_a_typing_that_follows_the_sections_is_flagged():
    rng, section, kind, statistics = _islands(seed=1)
    axis = statistics[section, 2] * 3 + 0.1 * rng.standard_normal(len(section))  # the axis is the sharpness
    types = (axis > np.median(axis)).astype(int)
    descriptors = np.column_stack([axis, statistics[section] + 0.05 * rng.standard_normal((len(section), 4))])
    out = section_confound(descriptors, axis, types, section, statistics)
    assert out["axis ~ section r"]["sharpness"] > 0.9 and follows_sections(out)
    assert out["section probe"] > 2 * out["section chance"]
    one_each = section_confound(descriptors[::4], axis[::4], types[::4], section[::4], statistics)
    assert one_each["section probe"] is None and one_each["axis ~ section |r|"] > 0.9  # still seen, one island each


def _result(axis, types, section, statistics):
    confound = section_confound(np.column_stack([axis, statistics[section]]), axis, types, section, statistics)
    return IslandResult(
        types=Typing(axis=axis.tolist(), type=types.tolist()),
        sections=Sections(section=section.tolist(), statistics=statistics.tolist(), found=confound),
    )


def test_chapter_5_says_and_shows_whether_the_types_follow_the_sections(tmp_path):
    from islandvae.islands import text as island_text
    from islandvae.islands.figures import sections_figure

    rng, section, kind, statistics = _islands(seed=2)
    cells = _result(kind * 3.0 + 0.3 * rng.standard_normal(len(kind)), kind, section, statistics)
    assert "do not follow the sections" in island_text.sections_text(cells)
    axis = statistics[section, 0] * 3 + 0.1 * rng.standard_normal(len(section))  # the axis is the grey level
    imaging = _result(axis, (axis > np.median(axis)).astype(int), section, statistics)
    text = island_text.sections_text(imaging)
    assert "with their grey level, r = 1.00" in text and "may reflect how the sections were stained" in text
    fig = sections_figure(imaging, [f"B{k}/s" for k in range(6)])
    left, right = fig.axes
    assert len(left.get_yticklabels()) == 6 and right.get_xlabel() == "section's grey level"
    assert right.get_title().startswith("r = 1.00")


def test_the_robustness_table_has_the_section_columns():
    from islandvae.islands import robustness

    rng, section, kind, statistics = _islands(seed=3)
    confound = section_confound(np.column_stack([kind, statistics[section]]), kind * 1.0, kind, section, statistics)
    score = {"ari": [0.9, 0.8, 1.0], "balanced accuracy": [0.9, 0.8, 1.0], "types": 2}
    result = IslandResult(
        types=Typing(k=2),
        clusters=Clusters(tissue_density=10.0, density=[10.0, 40.0], island_clusters=[1]),
        sections=Sections(found=confound),
        truth=TruthScores(
            island_scores={"VAE (latent 128)": score, robustness.POOLED: score},
            island_ceilings={"VAE (latent 128)": score, robustness.POOLED: score},
            match={"true islands": 24, "found islands": 24, "recall": 1.0, "precision": 1.0},
            true_islands={"granular": 12, "parvicellular": 12},
            island_sections={robustness.POOLED: confound},
        ),
    )
    row = robustness.entry(result)
    rows = section_rows({"seed 1": row})
    assert rows[0]["ARI"] == confound["types ~ sections ARI"] < 0.1
    assert rows[0]["chance"] == pytest.approx(1 / 6) and rows[0]["probe"] is not None
    assert rows[0]["pooled r"] == rows[0]["axis r"] == confound["axis ~ section |r|"]
    assert rows[0]["cells r"] is None  # not scored: '-'
    assert not [k for k in rows[0] if "|" in k]  # a pipe in a header would split the markdown table
    flagged = dict(row, sections={"found": dict(confound, **{"types ~ sections ARI": 0.4})})
    assert "on 1 of 2 sets: seed 2 (types ~ sections ARI 0.40" in sections_finding({"seed 1": row, "seed 2": flagged})
    assert sections_finding({"seed 1": row}) == "The found types stay within the section limits on every set."
