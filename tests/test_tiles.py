"""The tile pipeline: what a tile holds, where the sampler puts it, and the errors a user can meet."""

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from islandvae.data.hdf5 import InMemoryImages
from islandvae.data.stats import PixelStats
from islandvae.errors import UserError
from islandvae.tiles.dataset import TileDataset, augment, identity_collate
from islandvae.tiles.sampler import TileSampler, fixed_tiles
from islandvae.tiles.tissue import tissue_map

STATS = PixelStats(min=0, max=255, mean=150.0, std=40.0, count=1, brains=("A",))


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiles") / "t.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        a = f.create_group("A")
        a.create_dataset("0", data=rng.integers(0, 256, (300, 200), dtype=np.uint8))
        a.create_dataset("1", data=rng.integers(0, 256, (90, 500), dtype=np.uint8))
        glass = np.full((256, 256), 245, np.uint8)
        glass[:, :64] = rng.integers(60, 200, (256, 64), dtype=np.uint8)  # tissue only in the left quarter
        a.create_dataset("2", data=glass)
    return InMemoryImages(path, ["A"], progress=False)


def test_a_tile_is_the_standardised_float32_pixels(images):
    ds = TileDataset(images, STATS)
    tile = ds[("A", "1", 7, 300, 64)]
    assert tile.shape == (1, 64, 64) and tile.dtype == torch.float32
    expected = (images.arrays[("A", "1")][7:71, 300:364].astype(np.float32) - 150) / 40
    np.testing.assert_allclose(tile[0].numpy(), expected, atol=1e-5)


def test_a_batch_equals_its_tiles_one_by_one(images):
    ds = TileDataset(images, STATS)
    keys = [("A", "0", 5, 9, 32), ("A", "1", 50, 400, 32), ("A", "2", 0, 0, 32)]
    batch = ds.__getitems__(keys)
    assert batch.shape == (3, 1, 32, 32)
    for tile, key in zip(batch, keys):
        torch.testing.assert_close(tile, ds[key])


def test_pixels_past_the_border_are_the_training_mean(images):
    ds = TileDataset(images, STATS)
    tile = ds[("A", "1", 60, 480, 64)][0]  # 30 rows and 20 columns inside
    inside = (images.arrays[("A", "1")][60:90, 480:500].astype(np.float32) - 150) / 40
    np.testing.assert_allclose(tile[:30, :20].numpy(), inside, atol=1e-5)
    assert (tile[30:] == 0).all() and (tile[:, 20:] == 0).all()


@pytest.mark.parametrize("strategy", ["uniform", "area", "tissue"])
def test_sampled_tiles_lie_inside_their_images(images, strategy):
    sampler = TileSampler(images.infos(), tile_size=64, tiles=2000, strategy=strategy, tissue=tissue_map(images, STATS))
    keys = list(sampler)
    assert len(keys) == len(sampler) == 2000
    shapes = {(i.brain, i.name): i.shape for i in images.infos()}
    for brain, name, row, col, size in keys:
        h, w = shapes[(brain, name)]
        assert size == 64 and 0 <= row <= h - 64 and 0 <= col <= w - 64


def test_strategies_weight_images_as_they_say(images):
    counts = {}
    for strategy in ("uniform", "area"):
        keys = list(TileSampler(images.infos(), tile_size=32, tiles=30000, strategy=strategy))
        counts[strategy] = {n: sum(k[1] == n for k in keys) / len(keys) for n in ("0", "1", "2")}
    assert all(abs(v - 1 / 3) < 0.02 for v in counts["uniform"].values())
    positions = {"0": 269 * 169, "1": 59 * 469, "2": 225 * 225}
    for name, share in counts["area"].items():
        assert abs(share - positions[name] / sum(positions.values())) < 0.02


def test_tissue_strategy_avoids_glass(images):
    tm = tissue_map(images, STATS)
    keys = [
        k for k in TileSampler(images.infos(), tile_size=32, tiles=3000, strategy="tissue", tissue=tm) if k[1] == "2"
    ]
    assert keys and all(col + 16 <= 64 for _, _, _, col, _ in keys)  # tile centres in the tissue quarter


@pytest.mark.parametrize("strategy", ["tissue", "dense"])
def test_every_drawn_block_is_a_tissue_block_of_its_image(images, strategy):
    tm = tissue_map(images, STATS)
    sampler = TileSampler(images.infos(), tile_size=32, tiles=2000, strategy=strategy, tissue=tm)
    image, by, bx = sampler._pick_blocks(2000, torch.Generator().manual_seed(0))
    assert all(tm.blocks[k][y, x] for k, y, x in zip(image.tolist(), by.tolist(), bx.tolist()))
    assert set(image.tolist()) == {k for k, m in enumerate(tm.blocks) if m.any()}  # every image with tissue


def test_tissue_blocks_in_strips_equal_the_whole_image_at_once(monkeypatch):
    """The strip-wise tissue map (bounded memory) gives exactly the blocks and means of one pass over the image."""
    from islandvae.tiles import tissue

    rng = np.random.default_rng(1)
    for shape in [(5, 7), (300, 200), (1001, 333)]:  # smaller than a block, exact blocks, ragged edges
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        a[:, shape[1] // 2 :] = 245  # glass on the right half
        monkeypatch.setattr(tissue, "STRIP_PIXELS", 1 << 40)  # one strip: the whole image
        whole = tissue.tissue_blocks(a, 150.0, 60.0)
        monkeypatch.setattr(tissue, "STRIP_PIXELS", 1)  # one block row per strip
        strips = tissue.tissue_blocks(a, 150.0, 60.0)
        assert min(shape) < 16 or (whole[0].any() and not whole[0].all())
        assert np.array_equal(whole[0], strips[0]) and np.array_equal(whole[1], strips[1])
        assert whole[1].shape == (-(-shape[0] // 16), -(-shape[1] // 16))


def test_epochs_differ_and_repeat(images):
    sampler = TileSampler(images.infos(), tile_size=32, tiles=50, seed=3)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    assert fixed_tiles(images.infos(), tile_size=32, count=50, seed=3) == first


def test_dataloader_with_workers_delivers_the_same_batches(images):
    ds = TileDataset(images, STATS)
    sampler = TileSampler(images.infos(), tile_size=32, tiles=256, seed=1)
    runs = [
        torch.cat(list(DataLoader(ds, batch_size=64, sampler=sampler, num_workers=w, collate_fn=identity_collate)))
        for w in (0, 2)
    ]
    torch.testing.assert_close(runs[0], runs[1])


def test_augmentation_keeps_pixels_up_to_jitter_and_is_reproducible(images):
    tiles = torch.arange(2 * 4 * 4, dtype=torch.float32).view(2, 4, 4)
    a, b = augment(tiles, seed=5), augment(tiles, seed=5)
    torch.testing.assert_close(a, b)
    plain = augment(tiles, seed=5, brightness=0, contrast=0)
    for t, p in zip(tiles, plain):  # a flip or rotation of the same tile: same values
        assert sorted(t.flatten().tolist()) == sorted(p.flatten().tolist())


@pytest.mark.parametrize("size", [0, -3, 2.5, "64", True])
def test_tile_size_must_be_a_positive_integer(images, size):
    with pytest.raises(UserError, match="positive integer"):
        TileSampler(images.infos(), tile_size=size, tiles=10)


def test_zero_tiles_is_refused(images):
    with pytest.raises(UserError, match="at least one tile"):
        TileSampler(images.infos(), tile_size=32, tiles=0)


def test_no_images_is_refused():
    with pytest.raises(UserError, match="no images"):
        TileSampler([], tile_size=32, tiles=10)


def test_tile_larger_than_images_warns_once_and_pads(images):
    with pytest.warns(UserWarning, match="exceeds") as caught:
        sampler = TileSampler(images.infos(), tile_size=128, tiles=60, strategy="uniform")
    assert len(caught) == 1
    keys = [k for k in sampler if k[1] == "1"]  # 90 px high: padded below
    tile = TileDataset(images, STATS)[keys[0]][0]
    assert (tile[90:] == 0).all()


def test_batch_sampler_fast_path_equals_the_tuples(images):
    from islandvae.tiles.sampler import TileBatchSampler

    ds = TileDataset(images, STATS)
    batches = list(TileBatchSampler(TileSampler(images.infos(), tile_size=32, tiles=100, seed=2), 30))
    assert [len(b) for b in batches] == [30, 30, 30, 10]
    keys = [k for b in batches for k in b]
    assert keys == list(TileSampler(images.infos(), tile_size=32, tiles=100, seed=2))
    for batch in batches:
        torch.testing.assert_close(ds.__getitems__(batch), ds.__getitems__(list(batch)))


def test_batch_sampler_fast_path_pads_tiles_larger_than_an_image(images):
    from islandvae.tiles.sampler import TileBatchSampler

    ds = TileDataset(images, STATS)
    with pytest.warns(UserWarning):
        batches = list(TileBatchSampler(TileSampler(images.infos(), tile_size=128, tiles=40, strategy="uniform"), 40))
    batch = batches[0]
    assert batch.inside is False  # image "1" is 90 px high
    torch.testing.assert_close(ds.__getitems__(batch), ds.__getitems__(list(batch)))
    short = [k for k, key in enumerate(batch) if key[1] == "1"]
    assert short and (ds.__getitems__(batch)[short, 0, 90:] == 0).all()


def test_key_batch_reads_as_a_list_of_tuples(images):
    from islandvae.tiles.sampler import TileBatchSampler

    batch = next(iter(TileBatchSampler(TileSampler(images.infos(), tile_size=32, tiles=5, seed=1), 5)))
    keys = list(TileSampler(images.infos(), tile_size=32, tiles=5, seed=1))
    assert len(batch) == 5 and batch[0] == keys[0] and batch[1:3] == keys[1:3] and batch == keys


def test_fresh_batches_reuse_freed_memory():
    from islandvae.tiles.dataset import keep_freed_memory

    assert keep_freed_memory() in (True, False)  # False only where the C library is not glibc
    import platform

    if platform.libc_ver()[0] == "glibc":
        assert keep_freed_memory()
