"""Islands as the unit (islands.py) and the blob detector (morphology.py), on arrays made here."""

import numpy as np
import pytest
from islandvae import islands as isl
from islandvae.data import ImageInfo
from islandvae.morphology import cells, region_measures
from islandvae.truth import label_from_mask


def _grid(shape_tiles, tile=8, stride=8, image=0):
    """A Grid of every tile of a (rows, cols) plane of one image."""
    rows, cols = shape_tiles
    gy, gx = np.divmod(np.arange(rows * cols), cols)
    info = ImageInfo("B20", f"{image:04d}", rows * stride + tile - stride, cols * stride + tile - stride, "uint8")
    keys = [("B20", info.name, int(y * stride), int(x * stride), tile) for y, x in zip(gy, gx)]
    return isl.Grid([info], tile, stride, keys, np.zeros(len(keys), dtype=int), gy, gx)


def test_grid_labels_are_the_truth_labels_of_each_tile():
    rng = np.random.default_rng(0)
    mask = rng.choice(np.array([0, 1, 2, 255], dtype=np.uint8), size=(70, 90), p=[0.5, 0.2, 0.2, 0.1])
    mask[:30, :40] = 1  # whole tiles of one kind as well as mixed ones
    rows, cols = isl.grid_positions(70, 90, 16, 8)
    labels = isl.grid_labels(mask, rows, cols, 16)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            assert labels[i, j] == label_from_mask(mask[r:r + 16, c:c + 16]), (r, c)


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (64, 64), (97, 130), (300, 41)])
def test_window_sums_are_the_sums_over_each_window(shape):
    rng = np.random.default_rng(sum(shape))
    counts = rng.integers(0, 4, shape).astype(np.uint8)
    for tile, stride in ((16, 8), (32, 32)):
        rows, cols = isl.grid_positions(*shape, tile, stride)
        sums = isl._window_sums(counts, rows, cols, tile)
        direct = [[int(counts[r:r + tile, c:c + tile].sum()) for c in cols] for r in rows]
        assert sums.tolist() == direct


def test_grid_positions_reach_the_border_and_a_small_image_gets_one_tile():
    rows, cols = isl.grid_positions(100, 64, 32, 16)
    assert rows[0] == 0 and rows[-1] == 100 - 32 and cols[-1] == 64 - 32 and np.all(np.diff(rows) <= 16)
    rows, cols = isl.grid_positions(20, 30, 32, 16)
    assert list(rows) == [0] and list(cols) == [0]


def test_regions_join_8_neighbours_and_keep_types_apart():
    grid = _grid((4, 6))
    member = np.zeros(len(grid), dtype=bool)
    member[[0, 7, 14]] = True  # a diagonal chain: one region
    member[[5, 11]] = True  # a second region, far from the first
    ids = isl.regions(grid, member)
    assert len(set(ids[member])) == 2 and ids[0] == ids[7] == ids[14] and ids[5] == ids[11] and ids[1] == -1
    grid.label = np.full(len(grid), "plain", dtype="<U16")
    grid.label[[0, 1]], grid.label[[2, 3]] = "granular", "parvicellular"  # touching islands of two types
    island, kinds = isl.true_islands(grid)
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
    found = isl.island_types(features, island)
    assert found["k"] == 2
    scores = isl.agreement(found["type"], truth)
    assert scores["ari"][0] == pytest.approx(1.0) and scores["balanced accuracy"][0] == pytest.approx(1.0)


def test_one_kind_is_one_type_and_few_islands_are_not_split():
    ones = [isl.island_types(*_two_kinds(gap=0.0, seed=seed)[:2])["k"] == 1 for seed in range(6)]
    assert sum(ones) >= 5, ones  # BIC may split 20 islands of one kind by chance, but rarely
    features, island, _ = _two_kinds(gap=0.0)
    few = isl.island_types(features[:30], island[:30])  # three islands: too few to split
    assert few["k"] == 1 and len(few["type"]) == 3
    assert isl.island_types(np.zeros((5, 3)), np.full(5, -1))["k"] == 0


def test_agreement_names_types_by_majority():
    truth = np.array(["granular"] * 5 + ["parvicellular"] * 5)
    swapped = np.array([1] * 5 + [0] * 5)
    scores = isl.agreement(swapped, truth)
    assert scores["ari"][0] == pytest.approx(1.0) and scores["balanced accuracy"][0] == pytest.approx(1.0)
    assert isl.agreement(np.zeros(10, dtype=int), truth)["balanced accuracy"][0] == pytest.approx(0.5)


def test_found_islands_are_matched_to_the_true_ones():
    true = np.array([0, 0, 0, 0, 1, 1, -1, -1])
    assert isl.match_found(true, true) == {"true islands": 2, "found islands": 2, "recall": 1.0,
                                                "precision": 1.0, "overlap": 1.0}
    half = np.array([0, 0, -1, -1, -1, -1, 1, -1])  # half of island 0, none of island 1, one false island
    m = isl.match_found(half, true)
    assert m["recall"] == 0.5 and m["precision"] == 0.5 and m["overlap"] == pytest.approx(0.25)
    assert isl.match_found(np.full(8, -1), true)["recall"] == 0.0


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
