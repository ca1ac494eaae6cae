"""How fast things run here: the tile loader, training steps and matrix multiplies, each bounded by seconds.

Every measurement runs its unit of work (a batch, a training step, a matmul) again and again until a
time budget is spent and reports the rate it reached, so a slow CPU shows a lower rate and never a
longer render. A precision this CPU has no native instructions for (bfloat16 without AVX512-BF16 or
AMX, where a bf16 matmul runs about a hundred times slower than fp32) is reported as such, not timed.
Chapters 2 and 4 show these rates measured during the render, beside `cpu()` naming the processor;
the bench/ scripts use the same functions with longer budgets.

The plain loader is the assignment's recipe done the obvious way: a Dataset whose __getitem__ slices
one tile from a dict of 2-D arrays and standardises it, a Sampler yielding tuples from Python's random,
and the DataLoader's default collate. Both loaders run in the calling process (0 workers).
"""

from __future__ import annotations

import os
import platform
import random
import time

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from islandvae.config import Config
from islandvae.data import InMemoryImages
from islandvae.model import VAE, loss_terms
from islandvae.sampler import TileBatchSampler, TileSampler
from islandvae.stats import PixelStats
from islandvae.tiles import TileDataset, identity_collate

BUDGET = 1.0  # seconds per measured setting inside a render
ENOUGH = 2**18  # tile locations drawn per pass of a timed loader (it starts again when they run out)


def native_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic in hardware (x86: AVX512-BF16 or AMX; Arm: the BF16 feature)."""
    cpu = getattr(torch, "cpu", None)
    if platform.machine().lower() in ("x86_64", "amd64"):
        checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        return any(check() for check in checks if check is not None)
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("Features") and " bf16" in line for line in f)
    except OSError:
        return False  # unknown counts as not native: never time what may run at a hundredth of the speed


def cpu() -> dict:
    """The processor the measurements ran on: model name, cores usable here, torch's vector level, native bf16."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"model": name, "cores": cores, "threads": torch.get_num_threads(),
            "vector": torch.backends.cpu.get_cpu_capability(), "native bf16": native_bf16()}


def describe_cpu() -> str:
    """One phrase for a table note: 'AMD EPYC, 2 cores, AVX2, no native bfloat16'."""
    c = cpu()
    return (f"{c['model']}, {c['cores']} core{'s' * (c['cores'] != 1)}, {c['vector']}, "
            f"{'native' if c['native bf16'] else 'no native'} bfloat16")


def for_seconds(step, seconds: float = BUDGET) -> tuple[int, float]:
    """Call `step()` once to warm up, then until `seconds` have passed: (calls timed, seconds they took)."""
    step()
    calls, start = 0, time.perf_counter()
    while True:
        step()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls, elapsed


class PlainDataset(Dataset):
    """One tile per call, sliced from the image's 2-D array, converted and standardised."""

    def __init__(self, images: InMemoryImages, stats: PixelStats):
        self.arrays, self.mean, self.std = images.arrays, stats.mean, stats.std

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, key):
        brain, name, row, col, size = key
        tile = self.arrays[(brain, name)][row : row + size, col : col + size]
        return ((torch.from_numpy(tile.astype("float32")) - self.mean) / self.std)[None]


class PlainSampler(Sampler):
    """Uniform image, uniform position, from Python's random."""

    def __init__(self, infos, size: int, n: int, seed: int = 0):
        self.infos, self.size, self.n, self.random = infos, size, n, random.Random(seed)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        for _ in range(self.n):
            info = self.random.choice(self.infos)
            yield (info.brain, info.name, self.random.randint(0, info.height - self.size),
                   self.random.randint(0, info.width - self.size), self.size)


def rate(loader: DataLoader, seconds: float = BUDGET) -> float:
    """Tiles per second of `loader` over `seconds` (after one warm-up batch), holding each batch while the next is
    cut, as a training loop does; the loader starts again when it runs out."""
    def forever():
        while True:
            yield from loader
    batches, held, sizes = forever(), [], []

    def step():
        held[:] = [next(batches)]
        sizes.append(held[0].shape[0])
    calls, elapsed = for_seconds(step, seconds)
    return sum(sizes[1:]) / elapsed  # sizes[0] is the warm-up batch


def one_core(measure):
    """Run `measure()` with torch on one thread (as a DataLoader worker has it), then restore the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return measure()
    finally:
        torch.set_num_threads(threads)


def loader_rates(images: InMemoryImages, stats: PixelStats, *, sizes=(64, 128), batch_size: int = 64,
                 seconds: float = BUDGET) -> list[dict]:
    """Per tile size: tiles/s of the project's loader and of the plain per-item loader, on one core, each for
    `seconds`."""
    infos = [i for i in images.infos() if min(i.height, i.width) >= max(sizes)]  # the plain recipe cannot pad

    def measure():
        rows = []
        for size in sizes:
            plain = rate(DataLoader(PlainDataset(images, stats), batch_size=batch_size,
                                    sampler=PlainSampler(infos, size, ENOUGH)), seconds)
            sampler = TileBatchSampler(TileSampler(images.infos(), tile_size=size, tiles=ENOUGH), batch_size)
            ours = rate(DataLoader(TileDataset(images, stats), batch_sampler=sampler, collate_fn=identity_collate),
                        seconds)
            rows.append({"tile": size, "batch": batch_size, "project loader": round(ours),
                         "plain per-item": round(plain), "speed-up": ours / plain})
        return rows
    return one_core(measure)


def streaming_bound(size: int, seconds: float = BUDGET) -> float:
    """Tiles/s if a tile cost only streaming its bytes (uint8 read, float32 written) at this core's copy rate."""
    src = torch.randint(0, 255, (2**24,), dtype=torch.uint8)
    dst = torch.empty(src.shape, dtype=torch.float32)
    calls, elapsed = one_core(lambda: for_seconds(lambda: dst.copy_(src), seconds))
    return calls * src.numel() / elapsed / (size * size)


def training_rates(config: Config, *, seconds: float = BUDGET, device: str = "cpu") -> list[dict]:
    """Tiles/s of forward + backward + Adam step (random tiles of the config's size), fp32 and bf16 autocast, each
    for `seconds`; on the CPU bf16 only where it runs natively (tiles/s None otherwise)."""
    s, device = config.sampling.tile_size, torch.device(device)
    x = torch.randn(config.sampling.batch_size, 1, s, s, device=device).contiguous(memory_format=torch.channels_last)
    rows = []
    for name, dtype in (("fp32", None), ("bf16 autocast", torch.bfloat16)):
        if dtype is not None and device.type == "cpu" and not native_bf16():
            rows.append({"precision": name, "tiles/s": None})
            continue
        torch.manual_seed(0)
        model = VAE(config.model, s).to(device).to(memory_format=torch.channels_last)  # as training has it
        optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)

        def step():
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                recon, mean, logvar = model(x)
            terms = loss_terms(x, recon, mean, logvar, model=model, beta=config.train.beta, l2=config.train.l2)
            optimizer.zero_grad()
            terms["total"].backward()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # a step counts when the GPU has finished it
        calls, elapsed = for_seconds(step, seconds)
        rows.append({"precision": name, "tiles/s": len(x) * calls / elapsed})
    return rows


def matmul_rate(dtype: torch.dtype = torch.float32, *, n: int = 1024, seconds: float = BUDGET) -> float | None:
    """This CPU's measured matrix-multiply rate in GFLOP/s (n x n by n x n) over `seconds`; None for bf16 where
    the CPU has no native bf16."""
    if dtype == torch.bfloat16 and not native_bf16():
        return None
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    calls, elapsed = for_seconds(lambda: a @ b, seconds)
    return 2 * n**3 * calls / elapsed / 1e9


def flops_per_tile(config: Config) -> float:
    """Forward + backward FLOPs of the model per tile, by torch's FLOP counter (a fixed, tiny amount of work)."""
    from torch.utils.flop_counter import FlopCounterMode

    s = config.sampling.tile_size
    model = VAE(config.model, s)
    x = torch.randn(2, 1, s, s)
    with FlopCounterMode(display=False) as counter:
        recon, mean, logvar = model(x)
        loss_terms(x, recon, mean, logvar, model=model, beta=1.0, l2=0.0)["total"].backward()
    return counter.get_total_flops() / len(x)


def speed_table(config: Config, flops: float, *, seconds: float = BUDGET) -> list[dict]:
    """Chapter 4's table: per precision, tiles/s, achieved GFLOP/s (from `flops` per tile) and the matmul rate, or
    why it was not timed."""
    peak = {"fp32": matmul_rate(torch.float32, seconds=seconds),
            "bf16 autocast": matmul_rate(torch.bfloat16, seconds=seconds)}
    rows = []
    for r in training_rates(config, seconds=seconds):
        if r["tiles/s"] is None:
            rows.append({"precision": r["precision"], "tiles/s": "not timed: no native bf16 on this CPU",
                         "GFLOP/s": "-", "matmul GFLOP/s": "-"})
        else:
            rows.append({**r, "GFLOP/s": r["tiles/s"] * flops / 1e9, "matmul GFLOP/s": peak[r["precision"]]})
    return rows
