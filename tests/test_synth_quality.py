"""The stand-in is faithful where it must be: grey values, sizes, island counts, and a task that is
neither trivial nor impossible nor solvable by brightness. Slow (about 1.5 minutes on 2 cores)."""

import collections

import pytest

from islandvae.data.calibration import grey_table, image_summaries, size_table
from islandvae.data.hdf5 import read_inventory
from islandvae.data.synth import DEFAULT_DIFFICULTY, generate
from islandvae.data.synth.generate import Preset
from islandvae.data.truth import TruthFile, truth_path
from islandvae.latent.baselines import island_task

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("small") / "small.h5", preset="small", seed=0, progress=False)


def test_small_has_the_real_proportions_of_images(small):
    counts = {r["brain"]: r["images"] for r in read_inventory(small).totals()}
    assert counts == {"B01": 20, "B02": 28, "B05": 18, "B07": 18, "B20": 15}


def test_grey_values_are_within_8_levels_of_the_real_file(small):
    for row in grey_table(image_summaries(small)):
        assert abs(row["mean"] - row["course mean"]) <= 8, row
        assert abs(row["std"] - row["course std"]) <= 8, row
    means = {r["brain"]: r["mean"] for r in grey_table(image_summaries(small))}
    assert max(means, key=means.get) == "B07" and min(means, key=means.get) == "B20"


def test_sizes_are_right_skewed_like_the_real_ones(small):
    rows = {r["measure"]: r for r in size_table(image_summaries(small)) if r["file"] == "in use"}
    for side in ("width", "height"):
        assert 900 <= rows[side]["mean"] <= 1400  # real means 1,222 and 1,162, here capped at 2,000 px
    assert rows["Mpx"]["mean"] > rows["Mpx"]["p50"]  # the tail pulls the mean above the median
    assert rows["Mpx"]["p95"] - rows["Mpx"]["p50"] > rows["Mpx"]["p50"] - rows["Mpx"]["p5"]


def test_held_out_brain_holds_at_least_30_islands_of_each_type(small):
    kinds = collections.Counter()
    with TruthFile(truth_path(small)) as truth:
        for image in read_inventory(small).of("B20"):
            kinds.update(truth.info("B20", image.name)["island_types"])
    assert kinds["granular"] >= 30 and kinds["parvicellular"] >= 30, kinds


def test_island_task_needs_structure_and_difficulty_makes_it_harder(tmp_path):
    preset = Preset(counts={"B01": 4, "B02": 4, "B05": 3, "B07": 3, "B20": 14}, max_side=1400)
    scores = {}
    for difficulty in (DEFAULT_DIFFICULTY, 0.9):
        path = generate(tmp_path / f"d{difficulty}.h5", preset=preset, seed=5, difficulty=difficulty, progress=False)
        scores[difficulty] = island_task(path, "B20")
    easy, hard = scores[DEFAULT_DIFFICULTY], scores[0.9]
    assert easy["texture"] >= 0.8, scores  # structure separates the types on the held-out brain
    assert easy["brightness"] <= easy["texture"] - 0.12, scores  # brightness alone clearly does worse
    assert hard["texture"] <= easy["texture"] - 0.1, scores  # difficulty lowers both
    assert hard["brightness"] <= easy["brightness"] - 0.05, scores
