"""What `islandvae analyse` costs before it runs: its encoder passes, their FLOPs, and hours per device.

The passes are counted from the data file's metadata alone (no pixel is read), as upper bounds: every position
of the test brain's grid (glass tiles are in fact left out), the 7 further orientations for every grid tile (in
fact only the typed island cores and the scored tiles), the probes' training tiles in 8 orientations, the fixed tile
sets through every chapter 5 model, and the feature spaces' encoders on the island-enriched tiles. Each pass is
counted at the main model's encoder FLOPs (model/speed.py flops_per_tile). `check_analysis_plan` stops `analyse`
before it starts where the plan takes longer than train.max_hours on the device found, as training does.
"""

from __future__ import annotations

import torch

from islandvae.config import Config
from islandvae.data.hdf5 import read_inventory
from islandvae.islands.features import TRAIN_ISLAND_TILES
from islandvae.islands.grid import grid_positions
from islandvae.latent.codes import TRAIN_TILES
from islandvae.model.speed import CPU_CEILING, GPU_CLASSES, flops_per_tile, gpu_rate, too_long

ORIENTATIONS = 8  # the pooled readout's views
MODELS = 4  # the main VAE and chapter 5's comparison models (autoencoder, latent 2, latent 4096) embed the fixed sets
ENRICHED_SPACES = 4  # encoders run on the island-enriched tiles: the VAE, its autoencoder twin, the untrained encoder,
# and the VAE's readout of the training tiles


def analysis_plan(config: Config) -> dict:
    """Encoder passes per part of the analysis (upper bounds, see the module's text), their total FLOPs, and hours
    at each GPU class's sustained rate."""
    s = config.sampling.tile_size
    test = [i for i in read_inventory(config.data.path).images if i.brain == config.data.test_brain]
    grid = 0
    for info in test:
        rows, cols = grid_positions(info.height, info.width, s, max(s // 2, 1))
        grid += len(rows) * len(cols)
    enriched = min(grid, 2 * TRAIN_ISLAND_TILES) + 2 * TRAIN_ISLAND_TILES
    passes = {
        "test brain's grid, one view": grid,
        "the other 7 orientations of every grid tile (at most)": (ORIENTATIONS - 1) * grid,
        "training brains' island and plain tiles for the probes, 8 orientations": 2 * TRAIN_ISLAND_TILES * ORIENTATIONS,
        "fixed tile sets (test and training) through every chapter 5 model": MODELS
        * (config.sampling.test_tiles + TRAIN_TILES),
        "feature spaces' encoders on the island-enriched tiles": ENRICHED_SPACES * enriched,
    }
    flops = flops_per_tile(config, encoder=True)
    total = sum(passes.values()) * flops
    return {
        "passes": passes,
        "grid tiles": grid,
        "GFLOP per pass": flops / 1e9,
        "PFLOP": total / 1e15,
        "hours": {name: total / (c["sustained"] * 1e12) / 3600 for name, c in GPU_CLASSES.items()},
    }


def check_analysis_plan(config: Config, device: torch.device) -> None:
    """Stop before `analyse` starts when its plan takes longer than train.max_hours on `device`: one line with the
    estimate and the ways on. On the CPU the encoder's rate is measured for 2 s, where the plan could exceed the
    limit at all (at CPU_CEILING)."""
    from islandvae.machine import for_seconds
    from islandvae.model.vae import VAE

    plan = analysis_plan(config)
    total = plan["PFLOP"] * 1e15
    limit = config.train.max_hours
    if device.type == "cuda":
        tflops, how = gpu_rate(device)
        rate = tflops * 1e12
    else:
        if total / (CPU_CEILING * 1e12) / 3600 <= limit:
            return
        s = config.sampling.tile_size
        vae = VAE(config.model, s).eval()
        x = torch.randn(64, 1, s, s).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            calls, seconds = for_seconds(lambda: vae.encode(x), 2.0)
        rate, how = calls * len(x) * plan["GFLOP per pass"] * 1e9 / seconds, "this CPU, measured for 2 s"
    hours = total / rate / 3600
    if hours > limit:
        estimate = {"hours": hours, "PFLOP": plan["PFLOP"], "TFLOP/s": rate / 1e12, "how": how}
        raise too_long(config, "analysing", estimate, "analyse on a GPU (docs/gpu.md)")
