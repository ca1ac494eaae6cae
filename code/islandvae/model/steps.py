"""What one training step is made of, each part readable alone; model/train.py's loop puts them together.

- `Data`: the seeded batches of the training brains, and the imaging augmentation's ranges;
- `evaluation_tiles` and `evaluate`: the test brain's fixed tiles and the scores on them;
- `encoder_input`: what the encoder sees of a batch (the tile itself, or it as another section's imaging and a
  corruption would show it), seeded by the step so that a resumed run sees the same;
- `optimise`: the forward pass in the precision picked for the device, the loss, the backward pass through the
  gradient scaler, the optimizer's step;
- `RunningMeans`: the loss terms averaged over the steps since the last logged row.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader

from islandvae.config import Config
from islandvae.data.hdf5 import InMemoryImages, read_inventory, training_brains
from islandvae.data.stats import PixelStats, training_stats
from islandvae.errors import UserError
from islandvae.files import show
from islandvae.model.vae import VAE, loss_terms
from islandvae.tiles.dataset import TileDataset, corrupt, identity_collate
from islandvae.tiles.imaging import imaging_spread, vary_imaging
from islandvae.tiles.sampler import TileBatchSampler, TileSampler, evaluation_keys
from islandvae.tiles.tissue import tissue_map

ACTIVE = 0.01  # a latent unit is active when its posterior mean varies by more than this over test tiles
EVAL_BATCH = 64  # test tiles evaluated at a time, channels-last, no autograd graph: a batch whose activations stay
# in cache (512 tiles 0.57 s, against 0.77 s at 256 with autograd on; timed by hand on a 2-core AVX-512 EPYC)
GPU_SHARE = 0.5  # the training images are held on the GPU when they take less than this share of its free memory
# (the rest is for the model, its activations and the optimizer)
# Seeds of the parallel processes (torchrun) and of the encoder input's draws, offset so that no two streams
# coincide: each process samples other tiles and draws other noise, and a step's draws differ from the next's.
RANK_TILES = 1000  # sampler seed + RANK_TILES * rank
RANK_NOISE = 7919  # the reparameterisation noise: train.seed + RANK_NOISE * rank (a prime, far from the others)
STEP_STRIDE = 1_000_003  # the encoder input's draws: sampling.seed * STEP_STRIDE + step + RANK_INPUT * rank
RANK_INPUT = 7


class Data:
    """The training loader and the imaging augmentation's ranges for a config."""

    def __init__(self, config: Config, device: torch.device, *, rank: int = 0):
        s = config.sampling
        inventory = read_inventory(config.data.path)
        brains = training_brains(inventory, config.data.test_brain)
        self.stats = training_stats(
            config.data.path, config.data.test_brain, cache_dir=config.paths.cache, progress=False
        )
        images = InMemoryImages(config.data.path, brains, progress=False, limit=s.images_per_brain)
        on_gpu = device.type == "cuda" and images.nbytes < GPU_SHARE * torch.cuda.mem_get_info(device)[0]
        self.dataset = TileDataset(images, self.stats, augment=s.augment, device=device if on_gpu else "cpu")
        tissue = tissue_map(images, self.stats)
        sampler = TileSampler(
            images.infos(),
            tile_size=s.tile_size,
            tiles=s.tiles_per_epoch,
            seed=s.seed + RANK_TILES * rank,
            strategy=s.strategy,
            tissue=tissue,
        )
        # the imaging augmentation's ranges, from how the training sections differ (tiles/imaging.py)
        self.imaging = imaging_spread(images, tissue, tile=s.tile_size, seed=s.seed) if s.imaging else None
        self.batches = TileBatchSampler(sampler, s.batch_size, drop_last=True)
        if len(self.batches) == 0:
            raise UserError(
                f"sampling.tiles_per_epoch {s.tiles_per_epoch} is less than one batch ({s.batch_size}); raise it"
            )
        self.workers = config.train.workers

    def epoch(self, epoch: int, start: int = 0):
        """The batches of one epoch from batch `start` on."""
        self.batches.set_epoch(epoch)
        loader = DataLoader(
            self.dataset,
            batch_sampler=self.batches,
            collate_fn=identity_collate,
            num_workers=self.workers,
            persistent_workers=False,
        )
        for k, batch in enumerate(loader):
            if k >= start:
                yield batch


def evaluation_tiles(config: Config, stats: PixelStats, count: int) -> torch.Tensor:
    """The first `count` of the test brain's fixed evaluation tiles, standardised (count, 1, s, s)."""
    s = config.sampling
    images = InMemoryImages(config.data.path, [config.data.test_brain], progress=False)
    keys = evaluation_keys(images, stats, tile_size=s.tile_size, count=s.test_tiles, seed=s.seed)
    return TileDataset(images, stats).__getitems__(keys[:count])


@torch.no_grad()
@torch.inference_mode()
def evaluate(model: VAE, tiles: torch.Tensor, *, beta: float, device: torch.device, batch: int = EVAL_BATCH) -> dict:
    """Test-brain reconstruction MSE per pixel, KL per tile, test loss (recon sum + beta KL), active units."""
    was = model.training
    model.eval()
    sq, kl, means = 0.0, 0.0, []
    for start in range(0, len(tiles), batch):
        x = tiles[start : start + batch].to(device).contiguous(memory_format=torch.channels_last)
        recon, mean, logvar = model(x)
        terms = loss_terms(x, recon, mean, logvar, model=model, beta=beta, l2=0.0, variational=model.variational)
        sq += float(terms["recon"]) * len(x)
        kl += float(terms["kl"]) * len(x)
        means.append(mean.float().cpu())
    model.train(was)
    n, pixels = len(tiles), tiles[0].numel()
    active = int((torch.cat(means).var(0) > ACTIVE).sum())
    return {"test_mse": sq / n / pixels, "test_kl": kl / n, "test_loss": (sq + beta * kl) / n, "active_units": active}


def build_model(config: Config, device: torch.device) -> VAE:
    torch.manual_seed(config.train.seed)
    # Channels-last on every device: on this CPU a training step takes 0.30 s instead of 0.39 s and decoding is
    # 3 times faster (bench/train_speed.py); on CUDA it is what bf16 convolutions want.
    return VAE(config.model, config.sampling.tile_size).to(device).to(memory_format=torch.channels_last)


SCHEDULES = ("constant", "cosine")
LR_RISE = 0.05  # share of max_steps over which the cosine schedule raises the learning rate from near 0 to train.lr


def learning_rate(t, step: int) -> float:
    """The learning rate of the step after `step` (train.schedule): train.lr throughout, or a linear rise over the
    first LR_RISE of max_steps and a cosine fall to 0 at max_steps. A function of the step alone, so a resumed run
    goes on bit for bit with nothing more in its checkpoint (torch's LRScheduler keeps a state of its own)."""
    if t.schedule == "constant":
        return t.lr
    rise = max(1, round(LR_RISE * t.max_steps))
    if step < rise:
        return t.lr * (step + 1) / rise
    return t.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - rise) / max(1, t.max_steps - rise))))


def warm_beta(t, step: int) -> float:
    """The KL weight of the step after `step`: raised linearly over the warm-up, then train.beta."""
    return t.beta * min(1.0, (step + 1) / t.warmup_steps) if t.warmup_steps else t.beta


def encoder_input(config: Config, data: Data, x: torch.Tensor, step: int, rank: int) -> torch.Tensor | None:
    """What the encoder sees of batch `x` at `step`: None (the batch itself), or the batch as another section's
    imaging would show it (sampling.imaging) and corrupted (sampling.corrupt), drawn from a generator seeded by
    the step, so that a resumed run sees the same."""
    if not (config.sampling.corrupt or data.imaging):
        return None
    g = torch.Generator().manual_seed(config.sampling.seed * STEP_STRIDE + step + RANK_INPUT * rank)
    seen = vary_imaging(x, data.imaging, data.stats, generator=g) if data.imaging else x
    if config.sampling.corrupt:
        seen = corrupt(seen, strength=config.sampling.corrupt, generator=g)
    return seen.contiguous(memory_format=torch.channels_last)


def optimise(
    trained,
    model: VAE,
    x: torch.Tensor,
    seen: torch.Tensor | None,
    *,
    noise: torch.Generator,
    optimizer,
    scaler,
    precision,
    device: torch.device,
    beta: float,
    t,
    step: int,
    last,
) -> dict:
    """One optimizer step on batch `x` (`trained`: the model as trained, wrapped for DDP or compiled; `model` the
    module itself): the forward pass under autocast in the picked precision, the loss terms, the backward pass
    through the gradient scaler (float16: a step whose gradients overflowed is skipped and the scale lowered),
    the step. Returns the loss terms; a loss that is not finite stops with one line (naming `last`, the
    checkpoint kept)."""
    with torch.autocast(device.type, dtype=precision.dtype or torch.float32, enabled=precision.dtype is not None):
        recon, mean, logvar = trained(x, noise, seen)
        target = None
        if t.pull and seen is not None:  # the latent means of the tiles as they were: the target, not trained
            with torch.no_grad():
                target = model.encode(x)[0]
    terms = loss_terms(
        x, recon, mean, logvar, model=model, beta=beta, l2=t.l2, variational=model.variational, texture=t.texture
    )
    if target is not None:
        terms["total"] = terms["total"] + t.pull * pull_term(mean, target)
    if not torch.isfinite(terms["total"]):
        raise UserError(
            f"step {step + 1}: the loss is not finite (recon {terms['recon'].item():.3g}, "
            f"KL {terms['kl'].item():.3g}); likely a learning rate too high for this model "
            f"(train.lr = {t.lr}); the last good checkpoint {show(last)} is kept"
        )
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(terms["total"]).backward()
    scaler.step(optimizer)
    scaler.update()
    return terms


def pull_term(mean: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The squared distance between the latent means of the tiles the encoder saw (varied: sampling.imaging,
    corrupt) and of the same tiles as they were, summed over dimensions and averaged over the batch (train.pull):
    what the encoder would have to hold of a section's imaging costs it; the unvaried tile's mean is the target."""
    return (mean.float() - target.float()).pow(2).sum(1).mean()


class RunningMeans:
    """The loss terms summed over the steps since the last logged row, handed out as their means."""

    TERMS = ("recon", "texture", "kl", "l2", "total")

    def __init__(self):
        self.sums, self.count = dict.fromkeys(self.TERMS, 0.0), 0

    def add(self, terms: dict) -> None:
        for k in self.sums:
            self.sums[k] += float(terms[k].detach())
        self.count += 1

    def take(self) -> dict:
        """The means since the last take, and a fresh start."""
        means = {k: v / self.count for k, v in self.sums.items()}
        self.sums, self.count = dict.fromkeys(self.TERMS, 0.0), 0
        return means
