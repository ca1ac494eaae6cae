"""Islands as the unit (islands/finder.py) and the blob detector (islands/morphology.py), on arrays made here."""

import numpy as np
import pytest

from islandvae.data.hdf5 import ImageInfo
from islandvae.data.truth import label_from_mask
from islandvae.islands import finder as finder_module
from islandvae.islands.finder import MIN_CORE, find_islands, match_found, rank_above
from islandvae.islands.grid import (
    Grid,
    _window_sums,
    grid_labels,
    grid_measures,
    grid_positions,
    regions,
    true_islands,
)
from islandvae.islands.morphology import cells, region_measures
from islandvae.islands.records import IslandResult, Typing
from islandvae.islands.types import agreement, chosen_types, island_types


def _grid(shape_tiles, tile=8, stride=8, image=0):
    """A Grid of every tile of a (rows, cols) plane of one image."""
    rows, cols = shape_tiles
    gy, gx = np.divmod(np.arange(rows * cols), cols)
    info = ImageInfo("B20", f"{image:04d}", rows * stride + tile - stride, cols * stride + tile - stride, "uint8")
    keys = [("B20", info.name, int(y * stride), int(x * stride), tile) for y, x in zip(gy, gx)]
    return Grid([info], tile, stride, keys, np.zeros(len(keys), dtype=int), gy, gx)


def test_grid_labels_are_the_truth_labels_of_each_tile():
    rng = np.random.default_rng(0)
    mask = rng.choice(np.array([0, 1, 2, 255], dtype=np.uint8), size=(70, 90), p=[0.5, 0.2, 0.2, 0.1])
    mask[:30, :40] = 1  # whole tiles of one kind as well as mixed ones
    rows, cols = grid_positions(70, 90, 16, 8)
    labels = grid_labels(mask, rows, cols, 16)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            assert labels[i, j] == label_from_mask(mask[r : r + 16, c : c + 16]), (r, c)


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (64, 64), (97, 130), (300, 41)])
def test_window_sums_are_the_sums_over_each_window(shape):
    rng = np.random.default_rng(sum(shape))
    counts = rng.integers(0, 4, shape).astype(np.uint8)
    for tile, stride in ((16, 8), (32, 32)):
        rows, cols = grid_positions(*shape, tile, stride)
        sums = _window_sums(counts, rows, cols, tile)
        direct = [[int(counts[r : r + tile, c : c + tile].sum()) for c in cols] for r in rows]
        assert sums.tolist() == direct


def test_grid_positions_reach_the_border_and_a_small_image_gets_one_tile():
    rows, cols = grid_positions(100, 64, 32, 16)
    assert rows[0] == 0 and rows[-1] == 100 - 32 and cols[-1] == 64 - 32 and np.all(np.diff(rows) <= 16)
    rows, cols = grid_positions(20, 30, 32, 16)
    assert list(rows) == [0] and list(cols) == [0]


def test_regions_join_8_neighbours_and_keep_types_apart():
    grid = _grid((4, 6))
    member = np.zeros(len(grid), dtype=bool)
    member[[0, 7, 14]] = True  # a diagonal chain: one region
    member[[5, 11]] = True  # a second region, far from the first
    ids = regions(grid, member)
    assert len(set(ids[member])) == 2 and ids[0] == ids[7] == ids[14] and ids[5] == ids[11] and ids[1] == -1
    grid.label = np.full(len(grid), "plain", dtype="<U16")
    grid.label[[0, 1]], grid.label[[2, 3]] = "granular", "parvicellular"  # touching islands of two types
    island, kinds = true_islands(grid)
    assert sorted(kinds) == ["granular", "parvicellular"] and island[0] == island[1] != island[2] == island[3]


def _two_kinds(n_islands=20, tiles=12, gap=3.0, seed=0):
    """Tile features of islands of two kinds that differ along one direction, with noise within each island."""
    rng = np.random.default_rng(seed)
    kind = np.arange(n_islands) % 2
    island = np.repeat(np.arange(n_islands), tiles)
    centre = rng.normal(0, 0.3, (n_islands, 6))
    centre[:, 0] += gap * kind
    features = centre[island] + rng.normal(0, 1.0, (len(island), 6))
    return features, island, np.array(["granular", "parvicellular"])[kind]


def test_island_types_separate_two_kinds_without_labels():
    features, island, truth = _two_kinds()
    found = island_types(features, island)
    assert found["k"] == 2
    scores = agreement(found["type"], truth)
    assert scores["ari"][0] == pytest.approx(1.0) and scores["balanced accuracy"][0] == pytest.approx(1.0)


def test_one_kind_is_one_type_and_few_islands_are_not_split():
    ones = [island_types(*_two_kinds(gap=0.0, seed=seed)[:2])["k"] == 1 for seed in range(6)]
    assert sum(ones) >= 5, ones  # BIC may split 20 islands of one kind by chance, but rarely
    features, island, _ = _two_kinds(gap=0.0)
    few = island_types(features[:30], island[:30])  # three islands: too few to split
    assert few["k"] == 1 and len(few["type"]) == 3
    assert island_types(np.zeros((5, 3)), np.full(5, -1))["k"] == 0


def test_agreement_names_types_by_majority():
    truth = np.array(["granular"] * 5 + ["parvicellular"] * 5)
    swapped = np.array([1] * 5 + [0] * 5)
    scores = agreement(swapped, truth)
    assert scores["ari"][0] == pytest.approx(1.0) and scores["balanced accuracy"][0] == pytest.approx(1.0)
    assert agreement(np.zeros(10, dtype=int), truth)["balanced accuracy"][0] == pytest.approx(0.5)


def test_found_islands_are_matched_to_the_true_ones():
    true = np.array([0, 0, 0, 0, 1, 1, -1, -1])
    assert match_found(true, true) == {
        "true islands": 2,
        "found islands": 2,
        "recall": 1.0,
        "precision": 1.0,
        "overlap": 1.0,
    }
    half = np.array([0, 0, -1, -1, -1, -1, 1, -1])  # half of island 0, none of island 1, one false island
    m = match_found(half, true)
    assert m["recall"] == 0.5 and m["precision"] == 0.5 and m["overlap"] == pytest.approx(0.25)
    assert match_found(np.full(8, -1), true)["recall"] == 0.0


def _discs(n, radius, *, size=160, seed=0, squash=1.0):
    """A light image with n dark discs (or ellipses, squash < 1) apart from each other, and pixel noise."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size), 200.0)
    yy, xx = np.mgrid[:size, :size]
    placed = []
    while len(placed) < n:
        y, x = rng.uniform(radius + 2, size - radius - 2, 2)
        if all(np.hypot(y - p, x - q) > 2 * radius + 3 for p, q in placed):
            placed.append((y, x))
            image[((yy - y) / squash) ** 2 + (xx - x) ** 2 <= radius**2] = 60.0
    return np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("radius", [3.0, 5.0])
def test_the_blob_detector_counts_and_sizes_round_cells(radius):
    found = cells(_discs(25, radius))
    assert 22 <= found["count"] <= 28
    assert abs(np.median(found["diameter"]) - 2 * radius) < 1.5
    assert np.median(found["roundness"]) > 0.8


def test_roundness_falls_for_elongated_cells_and_an_empty_region_has_no_cells():
    round_, long_ = region_measures(_discs(20, 4.0)), region_measures(_discs(20, 4.0, squash=2.0))
    assert long_["roundness"] < round_["roundness"] - 0.2
    empty = region_measures(np.full((64, 64), 200, dtype=np.uint8))
    assert empty["cells / 10,000 px"] == 0.0 and np.isnan(empty["cell diameter (px)"])


def test_rank_above_is_one_half_for_alike_samples_and_one_for_separated_ones():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 400), rng.normal(0, 1, 400)
    assert abs(rank_above(a, b) - 0.5) < 0.06
    assert rank_above(a + 10, b) == 1.0 and rank_above(a - 10, b) == 0.0
    assert rank_above(np.ones(3), np.ones(5)) == 0.5  # ties count half
    # scale-free: the same under any monotone change of the densities (no ratio is assumed)
    assert rank_above(np.exp(a + 0.5), np.exp(b)) == rank_above(a + 0.5, b)


def test_point_window_sums_count_the_points_inside_each_window():
    from islandvae.islands.morphology import point_window_sums

    rng = np.random.default_rng(1)
    shape, size = (150, 170), 40
    y, x, w = rng.uniform(0, 150, 300), rng.uniform(0, 170, 300), rng.uniform(0, 2, 300)
    rows, cols = grid_positions(*shape, size, 20)
    sums = point_window_sums(y, x, w, rows, cols, size, shape)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            inside = (y >= r) & (y < r + size) & (x >= c) & (x < c + size)
            assert sums[i, j] == pytest.approx(w[inside].sum())


def test_image_cells_in_strips_finds_the_cells_of_one_pass():
    from islandvae.islands.morphology import cells, image_cells

    rng = np.random.default_rng(2)
    image = np.full((300, 200), 200.0) + rng.normal(0, 3, (300, 200))
    yy, xx = np.mgrid[:300, :200]
    for cy, cx in rng.uniform(10, [290, 190], (60, 2)):
        image -= 120 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 2.5**2))
    image = image.clip(0, 255).astype(np.uint8)
    whole, strips = cells(image), image_cells(image, strip=64)
    assert abs(len(strips["y"]) - whole["count"]) <= 2 and whole["count"] > 40
    assert np.median(strips["diameter"]) == pytest.approx(np.median(whole["diameter"]), rel=0.05)


def test_the_number_of_types_is_the_smallest_within_the_bic_margin():
    assert chosen_types({1: 140.6, 2: 141.4, 3: 139.9, 4: 146.8}) == 1  # a BIC difference of 1 is noise
    assert chosen_types({1: 200.0, 2: 150.0, 3: 149.0}) == 2
    assert chosen_types({1: 100.0}) == 1
    assert chosen_types({1: 245.9, 2: 241.5}) == 2  # seed 3's continuum: 4.4 lower is positive evidence
    # the chapter, the method page and the summary state the margin the code uses
    from pathlib import Path

    from islandvae.islands.types import BIC_MARGIN

    root = Path(__file__).resolve().parents[1]
    assert f"lower the BIC by more than {BIC_MARGIN:g} (" in (root / "chapters/_05-analysis.qmd").read_text()
    assert f"within {BIC_MARGIN:g} of the lowest" in (root / "docs/method.md").read_text()
    from islandvae.islands.text import evidence

    assert [evidence(m) for m in (1, 2, 4.4, 6, 10)] == ["weak", "positive", "positive", "strong", "very strong"]
    assert f"({evidence(BIC_MARGIN)} evidence in Kass" in (root / "chapters/_05-analysis.qmd").read_text()


def test_islands_set_apart_are_not_typed_and_do_not_shape_the_types():
    features, island, kinds = _two_kinds(gap=4.0)
    n = island.max() + 1
    odd = np.zeros(n, dtype=bool)
    odd[:2] = True
    features = features.copy()
    features[np.isin(island, [0, 1])] += 50.0  # two far-off islands (edges): set apart, they would be a type
    found = island_types(features, island, typed=~odd, spread=True)
    assert (found["type"][odd] == -1).all() and found["k"] == 2
    from islandvae.latent.measures import adjusted_rand

    assert adjusted_rand(kinds[~odd], found["type"][~odd]) > 0.9
    assert set(found["k chosen"]) == set(found["bic"]) and abs(sum(found["k chosen"].values()) - 1) < 1e-9
    assert all(lo <= hi for lo, hi in found["bic spread"].values())


class _Pixels:
    """An image source of one array (image 'B20/0000')."""

    def __init__(self, pixels):
        self.pixels = pixels

    def image(self, brain, name):
        return self.pixels

    def region(self, brain, name, row, col, height, width):
        return self.pixels[row : row + height, col : col + width]


def _section(island_factor: float, *, seed: int = 0, radius: float = 2.2, size: int = 640):
    """A light section with dark round cells at a tissue density (about 12 in a 64 px tile) and, when
    island_factor > 1, two square islands of island_factor times that density."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    density = np.full((size, size), 3e-3)  # cells per px^2 of the tissue
    squares = [(64, 64, 160), (380, 350, 192)] if island_factor > 1 else []
    for r, c, s in squares:
        density[r : r + s, c : c + s] *= island_factor
    count = rng.poisson(density.sum())
    flat = rng.choice(size * size, count, p=(density / density.sum()).ravel(), replace=False)
    image = np.full((size, size), 205.0) + rng.normal(0, 3, (size, size))
    for cy, cx in zip(*np.divmod(flat, size)):
        y0, y1, x0, x1 = max(cy - 8, 0), min(cy + 9, size), max(cx - 8, 0), min(cx + 9, size)
        image[y0:y1, x0:x1] -= 130 * np.exp(
            -((yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2) / (2 * radius**2)
        )
    return image.clip(0, 255).astype(np.uint8), squares


def _tiled(image: np.ndarray, tile: int, stride: int) -> tuple:
    """A grid over one section image, its source, tile features and measured cells (features: the measured
    density and a little noise, as a latent that sees the cells would give them)."""
    n = (image.shape[0] - tile) // stride + 1
    grid = _grid((n, n), tile=tile, stride=stride)
    grid.infos = [ImageInfo("B20", "0000", *image.shape, "uint8")]
    grid.tissue_px = np.full(len(grid), tile * tile)
    source = _Pixels(image)
    measures = grid_measures(grid, source)
    features = np.column_stack([measures[:, 0], np.random.default_rng(0).normal(0, 1, (len(grid), 3))])
    return grid, source, features, measures


@pytest.mark.parametrize("factor", [4.0, 8.0])
def test_the_finder_finds_dense_islands_and_none_on_a_section_without(factor):
    tile, stride = 64, 32
    pixels, squares = _section(factor)
    plain, _ = _section(1.0, seed=1)
    for image, expected in ((pixels, len(squares)), (plain, 0)):
        grid, source, features, measures = _tiled(image, tile, stride)
        found = find_islands(grid, features, source, measures=measures)
        count = found["island"].max() + 1
        if not expected:
            assert count == 0, (found["rank"], found["density"])  # no cluster clearly denser: no island
            continue
        cores = np.bincount(found["island"][found["core"]], minlength=count)
        assert cores.min() >= MIN_CORE  # every found island's core spans at least MIN_CORE tiles
        _squares_found(found, grid, squares, tile, stride)


def _squares_found(found: dict, grid, squares: list, tile: int, stride: int) -> None:
    """Each square is found as one island, lying on it, among the largest found."""
    sizes = np.bincount(found["island"][found["island"] >= 0])
    for r, c, s in squares:
        tiles = [
            t
            for t in range(len(grid))
            if found["island"][t] >= 0
            and r <= grid.keys[t][2] + tile / 2 < r + s
            and c <= grid.keys[t][3] + tile / 2 < c + s
        ]
        ids, counts = np.unique(found["island"][tiles], return_counts=True)
        best = ids[counts.argmax()]
        assert counts.max() >= 0.5 * (s // stride) ** 2 and sizes[best] >= np.sort(sizes)[-len(squares)]


def test_island_figures_draw_found_islands_types_and_the_bic_curve(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from islandvae.islands.catalogue import describe_types
    from islandvae.islands.figures import (
        axis_figure,
        bic_figure,
        examples_figure,
        found_islands_figure,
        measures_figure,
    )

    tile, stride = 64, 32
    pixels, squares = _section(8.0)
    n = (pixels.shape[0] - tile) // stride + 1
    grid = _grid((n, n), tile=tile, stride=stride)
    grid.infos = [ImageInfo("B20", "0000", *pixels.shape, "uint8")]
    grid.tissue_px = np.full(len(grid), tile * tile)
    source = _Pixels(pixels)
    source.infos = lambda: grid.infos
    measures = grid_measures(grid, source)
    features = np.column_stack([measures[:, 0], np.random.default_rng(0).normal(0, 1, (len(grid), 3))])
    found = find_islands(grid, features, source, measures=measures)
    k = int(found["island"].max()) + 1
    assert k >= 2
    types = [t % 2 for t in range(k)]
    types[-1] = -1  # one island set apart: drawn grey, not a type
    arrays = {
        "image": grid.image,
        "row": np.array([key[2] for key in grid.keys]),
        "col": np.array([key[3] for key in grid.keys]),
        "gy": grid.gy,
        "gx": grid.gx,
        "island": found["island"],
        "true": np.full(len(grid), -1),
    }
    result = IslandResult(
        types=Typing(
            k=2,
            type=types,
            axis=list(np.linspace(-1, 1, k)),
            bic={1: 10.0, 2: 2.0, 3: 5.0},
            bic_spread={1: [8, 12], 2: [0, 4], 3: [3, 7]},
        ),
        morphology=found["morphology"],
        described=describe_types(found["morphology"], np.array(types), 2),
    )
    figures = {
        "found": found_islands_figure(source, arrays, types, image=0, tile=tile),
        "axis": axis_figure(result, ["granular"] * k),
        "examples": examples_figure(source, arrays, result, tile=tile),
        "measures": measures_figure(result),
        "bic": bic_figure(result),
    }
    for name, fig in figures.items():
        fig.savefig(tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 5000, name
    labels = [t.get_text() for t in figures["found"].axes[0].get_legend().get_texts()]
    assert "found, set apart (edge)" in labels and "found, type 1" in labels
    assert len(figures["bic"].axes[0].lines) >= 2  # the curve and the chosen number
    # the summary's figure: drawn from the result and the crops without titles, legible at its print size
    import dataclasses

    from islandvae.config import load_config
    from islandvae.figures import LEGIBLE_PT, print_font_pt
    from islandvae.report import summary

    config = load_config(None)
    config = dataclasses.replace(config, paths=dataclasses.replace(config.paths, figures=tmp_path))
    result.found.islands = k
    assert summary.composed_figure(config, result) is None  # no crops saved yet
    examples_figure(source, arrays, result, tile=tile, titles=False).savefig(tmp_path / f"{summary.EXAMPLES_PLAIN}.png")
    fig = summary.composed_figure(config, result)
    assert fig is not None and print_font_pt(fig) >= LEGIBLE_PT
    assert {t.get_text() for t in fig.axes[0].get_legend().get_texts()} == {"type 1", "type 2", "set apart (edge)"}
    for name, fig in figures.items():
        assert print_font_pt(fig) >= LEGIBLE_PT, name  # every island figure prints its text at 7 pt or more


def test_a_core_of_fewer_than_min_core_tiles_is_not_an_island(monkeypatch):
    grid, source, features, measures = _tiled(_section(8.0)[0], 64, 32)
    found = find_islands(grid, features, source, measures=measures)
    cores = np.bincount(found["island"][found["core"]])
    monkeypatch.setattr(finder_module, "MIN_CORE", int(cores.min()) + 1)  # now the smallest found core is too small
    fewer = find_islands(grid, features, source, measures=measures)
    assert fewer["island"].max() + 1 == found["island"].max() + 1 - int((cores == cores.min()).sum())
    assert fewer["candidates"] == found["candidates"]  # the same candidates, one rule more


def test_split_clusters_splits_only_the_named_clusters_and_numbers_the_parts_after_the_last():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (300, 2)), rng.normal((20, 0), 1, (150, 2)), rng.normal((20, 20), 1, (150, 2))])
    cluster = np.array([0] * 300 + [1] * 300)  # cluster 1 holds two well-separated groups
    out, split = finder_module.split_clusters(x, cluster, [1])
    assert split == [1] and (out[:300] == 0).all()  # cluster 0 untouched
    assert set(out[300:]) == {1, 2}  # the first part keeps its number, the second is numbered after the last
    assert len(set(out[300:450])) == 1 and len(set(out[450:])) == 1 and out[300] != out[450]


def test_islands_merged_with_dense_tissue_are_found_by_splitting_the_denser_cluster(monkeypatch):
    # The tile mixture sees a marker that puts the island tiles and half as many tissue tiles apart from the rest;
    # only within that group does the measured density separate islands from tissue. With two clusters at most,
    # the group is one cluster denser than the tissue, but not clearly: only the split finds the islands.
    grid, source, _, measures = _tiled(_section(8.0)[0], 64, 32)
    density = measures[:, 0]
    island = density > np.quantile(density, 0.85)
    rng = np.random.default_rng(1)
    group = island.copy()
    group[rng.choice(np.flatnonzero(~island), island.sum() // 2, replace=False)] = True
    features = np.column_stack([20.0 * group + rng.normal(0, 1, len(grid)), density + rng.normal(0, 1, len(grid))])
    monkeypatch.setattr(finder_module, "MAX_CLUSTERS", 2)
    found = find_islands(grid, features, source, measures=measures)
    assert found["refined"] and found["island"].max() + 1 >= 1  # the group was split and islands were found
    assert found["core"][island].mean() > 0.5 and found["core"][~group].sum() == 0
    monkeypatch.setattr(finder_module, "split_clusters", lambda x, cluster, which, **_: (cluster, []))
    unsplit = find_islands(grid, features, source, measures=measures)
    assert unsplit["island"].max() + 1 == 0, unsplit["rank"]  # without the split: no cluster clearly denser


def test_several_clusterings_vote_so_that_one_starts_tail_of_plain_tissue_is_no_island():
    """islands.starts: a tile is core where at least AGREE of the clusterings (consecutive seeds) call it so. On a
    section with islands the found cores are those tiles and both islands are found; on a plain section (seed 0)
    the first clustering alone calls the dense tail of the tissue an island cluster (4 islands) and no other of
    five does, so the vote finds none; with one start the finder is that first clustering."""
    from islandvae.islands.finder import AGREE, tile_clusters

    for factor, seed in ((4.0, 0), (1.0, 0)):
        image, squares = _section(factor, seed=seed)
        grid, source, features, measures = _tiled(image, 64, 32)
        single = [tile_clusters(features, measures[:, 0], seed=s) for s in range(5)]
        votes = np.sum([r["core"] for r in single], axis=0)
        one = find_islands(grid, features, source, measures=measures, seed=0)
        found = find_islands(grid, features, source, measures=measures, seed=0, starts=5)
        assert np.array_equal(one["core"], single[0]["core"] & (one["island"] >= 0))
        assert np.array_equal(found["core"], (votes >= AGREE) & (found["island"] >= 0))
        if factor > 1:
            _squares_found(found, grid, squares, 64, 32)
        else:
            assert one["island"].max() + 1 > 0 and sum(r["core"].any() for r in single) == 1
            assert found["island"].max() + 1 == 0
