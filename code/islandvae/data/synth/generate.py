"""Write a synthetic stand-in: the data file in the course layout, and its truth file beside it.

Images are drawn in worker processes and written in order, one at a time, so memory stays bounded
whatever the preset. Every image has its own seed derived from the run's seed, the brain and the
index: the same seed gives byte-identical files, whatever the number of workers.
Both files are written under temporary names and renamed into place at the end.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import deque
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import h5py
import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from islandvae import __version__
from islandvae.config import DataConfig
from islandvae.data.layout import REAL_COUNTS, sample_sizes, scaled_counts
from islandvae.data.synth import scene as scene_module
from islandvae.data.synth.artefacts import FLAGS, add_artefacts
from islandvae.data.synth.cells import SpriteBank
from islandvae.data.synth.optics import DEFAULT_STYLE, STYLES, form_image, imaged_differently, section_style
from islandvae.data.synth.scene import Plan, build_scene
from islandvae.data.truth import truth_path
from islandvae.errors import UserError
from islandvae.files import show

DEFAULT_DIFFICULTY = DataConfig.difficulty


@dataclass(frozen=True)
class Preset:
    """How many images per brain, the largest image side, and a scale applied to the real size distribution."""

    counts: dict[str, int]
    max_side: int | None
    scale: float = 1.0


@dataclass(frozen=True)
class Options:
    """Scene and imaging changes that only the robustness sets use: island cells at `island_density` times the
    usual count (spaced to match); every cell `cell_scale` times as large (and as sparse per px^2); every section
    stained and scanned on its own, `section_imaging` times optics.IMAGING_SPREAD (0: only the mild variation of
    every stand-in); a scan at `pixel_size` times the usual pixel size (the scene drawn that much finer and each
    scan pixel the mean of the scene's pixels it covers: cells, islands and vessels smaller in px)."""

    island_density: float = 1.0
    cell_scale: float = 1.0
    section_imaging: float = 0.0
    pixel_size: float = 1.0

    def check(self) -> None:
        if not 0.05 <= self.island_density <= 1:
            raise UserError(
                f"island_density {self.island_density} is outside 0.05..1; choose a share of the usual "
                "island cell count"
            )
        if not 0.5 <= self.cell_scale <= 2:
            raise UserError(f"cell_scale {self.cell_scale} is outside 0.5..2; choose a factor of the usual cell size")
        if not 0 <= self.section_imaging <= 2:
            raise UserError(
                f"section_imaging {self.section_imaging} is outside 0..2; 1 varies every section's "
                "staining and scan about as much as brains differ"
            )
        if not 1 <= self.pixel_size <= 3:
            raise UserError(f"pixel_size {self.pixel_size} is outside 1..3; choose how many times coarser the scan is")


def options_of(data) -> Options:
    """The generator options a config's [data] section names (config.DataConfig)."""
    return Options(**{f.name: getattr(data, f.name) for f in fields(Options)})


PRESETS = {
    "tiny": Preset(counts={"B01": 2, "B02": 2, "B05": 1, "B07": 1, "B20": 2}, max_side=1400, scale=0.5),
    "small": Preset(counts=scaled_counts(100), max_side=2000),
    "full": Preset(counts=dict(REAL_COUNTS), max_side=None),
}


def image_seed(seed: int, brain_number: int, index: int) -> int:
    """The seed of one image: enough to redraw it alone."""
    return int(np.random.SeedSequence([seed, brain_number, index]).generate_state(1)[0])


def generated_as(data) -> bool:
    """Whether the synthetic file of a config's [data] section was made with its preset, seed, difficulty and
    options (read from the truth file's generator parameters; False when they cannot be read)."""
    try:
        with h5py.File(truth_path(data.path), "r") as truth:
            made = json.loads(truth.attrs["generator"])
    except (OSError, KeyError, ValueError):
        return False
    options = made.get("options", asdict(Options()))
    return (made.get("preset"), made.get("seed"), made.get("difficulty")) == (
        data.synthetic,
        data.seed,
        data.difficulty,
    ) and all(options.get(k, v) == v for k, v in asdict(options_of(data)).items())


def make_plans(preset: Preset, seed: int, difficulty: float, options: Options | None = None) -> list[Plan]:
    """Every image to draw, in file order."""
    options = options or Options()
    plans = []
    for number, (brain, count) in enumerate(preset.counts.items()):
        rng = np.random.default_rng([seed, number, 1_000_003])
        for index, (h, w) in enumerate(sample_sizes(count, rng, max_side=preset.max_side)):
            h, w = int(h * preset.scale), int(w * preset.scale)
            plans.append(
                Plan(
                    brain=brain,
                    name=f"{index:04d}",
                    height=h,
                    width=w,
                    seed=image_seed(seed, number, index),
                    difficulty=difficulty,
                    **asdict(options),
                )
            )
    return plans


def render(plan: Plan, bank: SpriteBank) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """One image: pixels (uint8), island mask, artefact flags, and what was drawn."""
    rng = np.random.default_rng(plan.seed)
    coarse = plan.pixel_size != 1  # the scene drawn finer, then binned to the scan's pixels
    drawn = replace(plan, height=round(plan.height * plan.pixel_size), width=round(plan.width * plan.pixel_size))
    scene = build_scene(drawn if coarse else plan, bank, rng)
    flags, applied = add_artefacts(scene.od, scene.mask, scene.tissue, rng)
    style, gamma = section_style(STYLES.get(plan.brain, DEFAULT_STYLE), rng), 1.0
    if plan.section_imaging:
        style, gamma = imaged_differently(style, plan.section_imaging, rng)
    pixels = form_image(
        scene.od, scene.tissue, style, rng, size=(plan.height, plan.width) if coarse else None, gamma=gamma
    )
    mask, flags = scene.mask, flags
    if coarse:
        mask, flags = (
            np.asarray(Image.fromarray(a).resize((plan.width, plan.height), Image.Resampling.NEAREST))
            for a in (mask, flags)
        )
        for island in scene.islands:
            island.update({k: island[k] / plan.pixel_size for k in ("cy", "cx", "diameter")})
    info = dict(seed=plan.seed, islands=scene.islands, artefacts=applied, style=asdict(style))
    if plan.section_imaging:
        info["gamma"] = gamma
    return pixels, mask, flags, info


_BANK: SpriteBank | None = None


def _init_worker(seed: int, difficulty: float, cell_scale: float) -> None:
    global _BANK
    _BANK = SpriteBank(seed, difficulty, cell_scale)


def _render_in_worker(plan: Plan):
    return render(plan, _BANK)


def _rendered(plans: list[Plan], seed: int, difficulty: float, workers: int, cell_scale: float = 1.0):
    """Yield render(plan) in order, at most 2 x workers images in flight."""
    if workers <= 1:
        bank = SpriteBank(seed, difficulty, cell_scale)
        for plan in plans:
            yield render(plan, bank)
        return
    with multiprocessing.get_context().Pool(workers, _init_worker, (seed, difficulty, cell_scale)) as pool:
        pending: deque = deque()
        queue = iter(plans)
        for plan in queue:
            pending.append(pool.apply_async(_render_in_worker, (plan,)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def parameters(preset: Preset, preset_name: str, seed: int, difficulty: float, options: Options | None = None) -> dict:
    """The generator's parameters, stored at the root of the truth file (the options only when not the default,
    so that a default file stays byte-identical to one made before they existed)."""
    names = (
        "ISLANDS_PER_MPX",
        "PSEUDO_PER_MPX",
        "VESSELS_PER_MPX",
        "DENSITY",
        "MIN_DISTANCE",
        "FIBRES",
        "NEUROPIL_OD",
        "THICKNESS",
        "DEFOCUS_STEPS",
    )
    return dict(
        version=__version__,
        preset=preset_name,
        seed=seed,
        difficulty=difficulty,
        counts=preset.counts,
        max_side=preset.max_side,
        scale=preset.scale,
        styles={b: asdict(s) for b, s in STYLES.items()},
        flags=FLAGS,
        scene={n.lower(): getattr(scene_module, n) for n in names},
        **({"options": asdict(options)} if options and options != Options() else {}),
    )


def _write(
    data: h5py.File, truth: h5py.File, plans: list[Plan], params: dict, rendered, *, progress: bool, name: str
) -> None:
    """Write each rendered image and its truth as it arrives, in plan order."""
    truth.attrs["generator"] = json.dumps(params)
    with tqdm(
        total=sum(p.height * p.width for p in plans),
        unit="px",
        unit_scale=True,
        desc=f"synthetic data ({name})",
        disable=None if progress else True,
    ) as bar:
        for plan, (pixels, mask, flags, info) in zip(plans, rendered):
            if plan.brain not in data:
                data.create_group(plan.brain)
                truth.create_group(plan.brain)
            data[plan.brain].create_dataset(plan.name, data=pixels, track_times=False)
            entry = truth[plan.brain].create_group(plan.name)
            entry.create_dataset("mask", data=mask, compression="gzip", track_times=False)
            entry.create_dataset("flags", data=flags, compression="gzip", track_times=False)
            islands = [i for i in info["islands"] if i["kind"] != "pseudo"]
            entry.attrs["seed"] = info["seed"]
            entry.attrs["island_types"] = json.dumps([i["kind"] for i in islands])
            entry.attrs["island_diameters"] = json.dumps([round(i["diameter"], 1) for i in islands])
            entry.attrs["info"] = json.dumps(info)
            bar.update(plan.height * plan.width)


def generate(
    out: Path | str,
    *,
    preset: str | Preset = "small",
    seed: int = 0,
    difficulty: float = DEFAULT_DIFFICULTY,
    force: bool = False,
    workers: int | None = None,
    progress: bool = True,
    options: Options | None = None,
) -> Path:
    """Write the data file `out` and its truth file; return the data file's path.

    `preset` names one of PRESETS, or is a Preset of its own (tests use small custom ones). `options` change the
    scene for the robustness sets (Options); the presets and the default data never use them.
    """
    options = options or Options()
    options.check()
    out = Path(out)
    if isinstance(preset, str) and preset not in PRESETS:
        raise UserError(f"unknown preset '{preset}'; choose one of {', '.join(PRESETS)}")
    name, preset = (preset, PRESETS[preset]) if isinstance(preset, str) else ("custom", preset)
    if not 0 <= difficulty <= 1:
        raise UserError(f"difficulty {difficulty} is outside 0..1; choose a value between 0 and 1")
    truth = truth_path(out)
    for path in (out, truth):
        if path.exists() and not force:
            raise UserError(f"{show(path)} exists; pass --force to replace it, or choose another --out")
    plans = make_plans(preset, seed, difficulty, options)
    workers = workers or min(2, os.cpu_count() or 1)
    temp = {p: p.with_name(f".{p.name}.partial") for p in (out, truth)}
    files: dict[Path, h5py.File] = {}
    try:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            for path, t in temp.items():
                files[path] = h5py.File(t, "w")
        except OSError as err:
            why = "not a folder" if isinstance(err, (FileExistsError, NotADirectoryError)) else err.strerror or err
            raise UserError(f"cannot write to {show(out.parent)} ({why}); choose another --out") from None
        _write(
            files[out],
            files[truth],
            plans,
            parameters(preset, name, seed, difficulty, options),
            _rendered(plans, seed, difficulty, workers, options.cell_scale),
            progress=progress,
            name=name,
        )
        for f in files.values():
            f.close()
        for path, t in temp.items():
            os.replace(t, path)
    finally:
        for f in files.values():
            f.close()
        for t in temp.values():
            if t.is_file():
                t.unlink()
    return out
