"""Configuration: small frozen dataclasses, one per concern, filled from one TOML file.

One switch picks the config for everything (CLI, Makefile, report): the environment variable
ISLANDVAE_CONFIG (the Makefile sets it from `make CONFIG=...`), else configs/default.toml.
Relative paths inside a config file are relative to that file, so a config means the same thing
whatever the working directory (a chapter renders from chapters/, the CLI from the root).
Unknown keys are errors, never ignored: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from islandvae.errors import UserError
from islandvae.files import path_name, read_text, resolved, show

ENV_VAR = "ISLANDVAE_CONFIG"
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # code/islandvae/config.py -> repo root
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "default.toml"
DEFAULT_NAME = "default"  # the name of that config: its outputs are the committed ones


@dataclass(frozen=True)
class DataConfig:
    """Which HDF5 file holds the images, which brain is held out, and how to make the file if it is synthetic."""

    path: Path
    test_brain: str = "B20"
    synthetic: str = ""  # a preset (tiny, small, full): generate the stand-in when the file is missing
    seed: int = 0  # of the synthetic stand-in
    difficulty: float = 0.3  # of the stand-in's island task: 0 easy .. 1 nearly indistinguishable
    island_density: float = 1.0  # robustness sets only (synth.Options): island cells at this share of the usual
    cell_scale: float = 1.0  # robustness sets only: every cell this many times as large
    section_imaging: float = 0.0  # robustness sets only: every section stained and scanned on its own (x spread)
    pixel_size: float = 1.0  # robustness sets only: a scan this many times coarser (cells smaller in px)


@dataclass(frozen=True)
class SamplingConfig:
    """How training tiles are drawn (chapter 2)."""

    tile_size: int = 64
    batch_size: int = 64
    tiles_per_epoch: int = 64_000
    strategy: str = "tissue"  # uniform, area or tissue
    augment: bool = True
    corrupt: float = 0.0  # the encoder sees each training tile blurred (Gaussian, sigma up to this many px) and
    # with added noise (std up to a tenth of this, standardised units); the decoder reconstructs the clean tile
    imaging: bool = False  # the encoder sees each training tile as another section would have shown it (a power
    # law on the grey values, blur, noise; ranges from how the training sections differ: tiles/imaging.py) and the
    # decoder reconstructs the tile as it was
    test_tiles: int = 3000  # the fixed, seeded evaluation set of the test brain
    images_per_brain: int = 0  # train on the first n images of each brain only (the overfitting check); 0: all
    seed: int = 0


@dataclass(frozen=True)
class ModelConfig:
    """The convolutional (V)AE (chapter 3): tile size comes from [sampling]."""

    kind: str = "vae"  # vae, or ae: the deterministic autoencoder baseline with the same encoder/decoder
    latent: int = 128
    width: int = 8  # channels of the first stage; doubled at each downsampling up to max_width
    max_width: int = 256
    depth: int = 4  # strided downsamplings: a 64 px tile reaches 4 x 4 before the fully connected layer
    blocks: int = 1  # residual blocks per stage
    normalise: bool = False  # per-tile contrast normalisation: the encoder sees each tile at zero mean and unit
    # std, the decoder's output is scaled back with the tile's mean and std (so the latent holds no brightness)
    latent_map: bool = False  # the latent as a small map (latent / side^2 channels at each of the side x side
    # positions after the last downsampling) instead of one vector from a fully connected layer


@dataclass(frozen=True)
class TrainConfig:
    """The training run (chapter 4): loss weights, optimiser, stopping rule, devices."""

    max_steps: int = 1000  # minutes of the default model on 2 CPU cores (docs/performance.md gives them per CPU)
    lr: float = 1e-3
    schedule: str = "constant"  # the learning rate over the run: constant, or cosine (a linear rise over the first
    # LR_RISE of max_steps, then a cosine fall to 0 at max_steps: more learnt per step at a fixed budget)
    beta: float = 0.1  # weight of the KL term; the decoder noise it implies has variance beta / 2
    l2: float = 1e-6  # weight of the sum of squared parameters
    texture: float = 0.0  # weight of a term on the local energy of three frequency bands (model.band_energy)
    pull: float = 0.0  # with sampling.imaging or corrupt: weight of the squared distance between the latent means of
    # the tile the encoder saw and of the tile as it was (summed over dimensions; the tile's own mean is the target)
    warmup_steps: int = 200  # KL weight rises linearly from 0 to beta (a guard against posterior collapse)
    eval_every: int = 100  # steps between test-brain evaluations (and checkpoints)
    eval_tiles: int = 512  # of the fixed test set, used during training
    patience: int = 5  # stop when the test loss has not improved by min_delta over this many evaluations
    min_delta: float = 0.01  # relative
    log_every: int = 10
    device: str = "auto"  # auto (CUDA when present), cpu, cuda
    precision: str = "auto"  # auto (GPUs: bf16 autocast from compute capability 8.0, fp16 with a gradient scaler
    # before; CPU: fp32), fp32, bf16, fp16; one the device cannot run natively is refused (model/device.py)
    checkpoint_minutes: float = 10.0  # last.pt is also written when this long has passed since it was (a cut session)
    compile: bool = False
    workers: int = 0  # DataLoader worker processes
    max_hours: float = 4.0  # train refuses to start a run that its plan says takes longer than this on the device it
    # found (one line with the estimate and the ways on); raise it in the config to mean it (model/speed.py)
    comparison_steps: int = 150  # chapter 5's comparison models (autoencoder, other latent sizes): sized so a cold
    # `make report` on 2 CPU cores stays within 20 minutes (configs/real.toml gives them the full budget)
    seed: int = 0


@dataclass(frozen=True)
class IslandsConfig:
    """Chapter 5's island pipeline."""

    typing: str = "main"  # the latent the found islands are typed on: "main" (the model that found them) or
    # "imaging": a second VAE of the same design trained with sampling.imaging, runs/<name>-imaging (model/runs.py)
    starts: int = 9  # the finder's clusterings of the tiles, from consecutive seeds; a tile is an island's core or
    # border where two of them call it so (1: one clustering, as before; islands/finder.py, docs/method.md)


@dataclass(frozen=True)
class PathsConfig:
    """Where derived results go: cached statistics, training runs, the report's figures, kept result tables."""

    cache: Path = PROJECT_ROOT / "cache"
    runs: Path = PROJECT_ROOT / "runs"
    figures: Path = PROJECT_ROOT / "figures"
    results: Path = PROJECT_ROOT / "results"  # small measured tables kept in the repository (islands/levers.py)


@dataclass(frozen=True)
class Config:
    """One experiment: its name (names the run folder) and one section per concern."""

    data: DataConfig
    sampling: SamplingConfig = SamplingConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    islands: IslandsConfig = IslandsConfig()
    paths: PathsConfig = PathsConfig()
    name: str = ""
    source: Path | None = field(default=None, metadata={"toml": False})

    @property
    def own_folder(self) -> str:
        """The subfolder this config's rendered documents, hand-in zips and (unless [paths] figures says
        otherwise) figures go to: none for the default config, whose outputs are the committed ones
        (figures/, _output/, handin/), its name for any other (figures/real/, _output/real/, handin/real/), so
        that rendering the course file never replaces the stand-in's figures."""
        return "" if self.name == DEFAULT_NAME else self.name


def config_path(path: Path | str | None = None) -> Path:
    """The config file to use: the argument, else $ISLANDVAE_CONFIG, else configs/default.toml."""
    if path is None:
        path = os.environ.get(ENV_VAR) or DEFAULT_CONFIG
    return Path(path)


def load_config(path: Path | str | None = None) -> Config:
    """Read and check a config file (see config_path for which one)."""
    path = config_path(path)
    if not path.is_file():
        raise UserError(
            f"config file {show(path)} not found; "
            f"use one of {show(PROJECT_ROOT / 'configs')}/*.toml (set {ENV_VAR} or make CONFIG=...)"
        )
    text = read_text(path, "config file", "point ISLANDVAE_CONFIG or CONFIG=... at a readable .toml file")
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"config file {show(path)} is not valid TOML ({err}); fix the syntax") from None
    table.setdefault("name", path.stem)
    config = _build(Config, table, source=path, prefix="")
    if "figures" not in (table.get("paths") or {}) and config.own_folder:  # another config's figures go apart
        config = dataclasses.replace(
            config, paths=dataclasses.replace(config.paths, figures=PROJECT_ROOT / "figures" / config.own_folder)
        )
    path_name(config.name, f"config file {show(path)}: name")  # it names runs/<name>/ and results/*-<name>.*
    return dataclasses.replace(config, source=path.resolve())


def _build(cls: type, table: dict, *, source: Path, prefix: str):
    """Fill dataclass `cls` from a TOML table, checking keys and types."""
    if not isinstance(table, dict):
        raise UserError(f"config file {show(source)}: [{prefix.rstrip('.')}] must be a table; see configs/default.toml")
    hints = typing.get_type_hints(cls)
    known = [f for f in dataclasses.fields(cls) if f.metadata.get("toml", True)]
    names = {f.name for f in known}
    for key in table:
        if key not in names:
            raise UserError(
                f"config file {show(source)}: unknown key '{prefix}{key}' "
                f"(known here: {', '.join(sorted(names))}); fix or remove it"
            )
    values = {}
    for f in known:
        if f.name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise UserError(f"config file {show(source)}: missing key '{prefix}{f.name}'; add it")
            continue
        values[f.name] = _convert(table[f.name], hints[f.name], source=source, key=prefix + f.name)
    return cls(**values)


def _convert(value, kind, *, source: Path, key: str):
    """One TOML value to the annotated type; relative paths are taken from the config file."""
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, source=source, prefix=key + ".")
    expected = {Path: str, str: str, int: int, float: (int, float), bool: bool}[kind]
    if not isinstance(value, expected) or (kind in (int, float) and isinstance(value, bool)):
        raise UserError(
            f"config file {show(source)}: '{key}' must be {kind.__name__ if kind is not Path else 'a path string'}, "
            f"got {value!r}; fix the value"
        )
    if kind is Path:
        return resolved(
            source.parent / value, f"config file {show(source)}: {key}", "point it at the file or folder itself"
        )
    return kind(value)


def quarto_project() -> dict:
    """The project's _quarto.yml: the renderer's documents and formats, and the PDF's page (figures.print_width_in)."""
    import yaml

    return yaml.safe_load((PROJECT_ROOT / "_quarto.yml").read_text()) or {}


def data_statement(config: Config) -> str:
    """One sentence on which data the results come from; synthetic data is named as such."""
    if config.data.synthetic:
        return (
            f"These results come from the **synthetic stand-in** `{config.data.path.name}` (preset "
            f"{config.data.synthetic}, seed {config.data.seed}), generated by this project; "
            "no biological claim follows from them."
        )
    return f"These results come from the data file `{config.data.path.name}` (config `{config.name}`)."
