import pickle

import h5py
import numpy as np
import pytest

from islandvae.data.hdf5 import InMemoryImages, LazyImages, read_inventory
from islandvae.errors import UserError


def test_inventory_lists_every_image_with_its_shape(plain_file):
    inventory = read_inventory(plain_file)
    with h5py.File(plain_file) as f:
        expected = [(b, n, f[b][n].shape) for b in f for n in f[b]]
    assert len(inventory.images) >= 50
    assert [(i.brain, i.name, i.shape) for i in inventory.images] == expected
    assert inventory.brains == ("B01", "B02", "B05", "B07", "B20")
    assert len({i.shape for i in inventory.images}) > 10  # varied sizes
    totals = {r["brain"]: r for r in inventory.totals()}
    assert sum(r["images"] for r in totals.values()) == len(inventory.images)
    assert totals["B01"]["pixels"] == sum(i.pixels for i in inventory.of("B01"))


def test_inventory_reads_no_pixels(tmp_path):
    # Pixels stored in an external raw file that does not exist: metadata is readable, pixels are not.
    path = tmp_path / "external.h5"
    with h5py.File(path, "w") as f:
        f.create_group("B01").create_dataset(
            "0000", shape=(300, 200), dtype="u1", external=[(str(tmp_path / "missing.raw"), 0, h5py.h5f.UNLIMITED)]
        )
    inventory = read_inventory(path)
    assert inventory.images[0].shape == (300, 200)
    with pytest.raises(UserError, match="B01/0000"):
        InMemoryImages(path, ["B01"], progress=False)


def test_in_memory_images_are_the_stored_uint8_pixels(plain_file):
    images = InMemoryImages(plain_file, ["B01", "B05"], progress=False)
    assert images.brains == ("B01", "B05")
    with h5py.File(plain_file) as f:
        for (brain, name), array in images.arrays.items():
            assert array.dtype == np.uint8
            np.testing.assert_array_equal(array, f[brain][name][()])
    assert {b for b, _ in images.arrays} == {"B01", "B05"}
    assert images.nbytes == sum(i.pixels for i in images.infos())


def test_lazy_regions_equal_in_memory_regions(plain_file):
    memory = InMemoryImages(plain_file, ["B02"], progress=False)
    lazy = LazyImages(plain_file, ["B02"])
    for info in memory.infos():
        row, col = info.height // 3, info.width // 4
        np.testing.assert_array_equal(
            lazy.region("B02", info.name, row, col, 64, 48), memory.region("B02", info.name, row, col, 64, 48)
        )
    clone = pickle.loads(pickle.dumps(lazy))  # as DataLoader workers receive it
    np.testing.assert_array_equal(clone.image("B02", "0000"), memory.image("B02", "0000"))


def test_region_outside_the_image_is_refused(plain_file):
    lazy = LazyImages(plain_file)
    info = lazy.inventory.images[0]
    with pytest.raises(IndexError):
        lazy.region(info.brain, info.name, info.height - 10, 0, 64, 64)


def test_trailing_singleton_axis_is_squeezed(tmp_path):
    path = tmp_path / "hw1.h5"
    pixels = np.arange(40 * 30, dtype=np.uint8).reshape(40, 30, 1)
    with h5py.File(path, "w") as f:
        f.create_group("B01").create_dataset("0000", data=pixels)
    assert read_inventory(path).images[0].shape == (40, 30)
    np.testing.assert_array_equal(InMemoryImages(path, ["B01"], progress=False).image("B01", "0000"), pixels[..., 0])
    np.testing.assert_array_equal(LazyImages(path).region("B01", "0000", 5, 6, 7, 8), pixels[5:12, 6:14, 0])


def test_a_16_bit_file_is_refused_at_the_inventory_with_one_line(tmp_path):
    """Every stage after the inventory works in 0..255: a uint16 file stops at once, not in training."""
    path = tmp_path / "u16.h5"
    with h5py.File(path, "w") as f:
        f.create_group("B01").create_dataset("0000", data=np.full((20, 20), 4000, dtype=np.uint16))
    with pytest.raises(UserError, match=r"uint16; islandvae reads 8-bit grey values \(uint8\)"):
        read_inventory(path)
    with pytest.raises(UserError, match="uint16"):
        InMemoryImages(path, ["B01"], progress=False)


def test_names_are_read_not_assumed(tmp_path):
    path = tmp_path / "odd.h5"
    with h5py.File(path, "w") as f:
        f.create_group("brainX").create_dataset("slice-a", data=np.zeros((10, 12), np.uint8))
        f.create_group("Y").create_dataset("7", data=np.zeros((11, 13), np.uint8))
    inventory = read_inventory(path)
    assert inventory.brains == ("Y", "brainX")
    assert inventory.get("brainX", "slice-a").shape == (10, 12)
