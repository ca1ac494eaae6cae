"""The machine a speed figure is measured on, and measurements bounded by seconds, not by work.

Every measurement runs its unit of work (a batch, a training step, a matmul) again and again until a
time budget is spent and reports the rate it reached, so a slow CPU shows a lower rate and never a
longer render. A precision this CPU has no native instructions for (bfloat16 without AVX512-BF16 or
AMX, where a bf16 matmul runs about a hundred times slower than fp32) is reported as such, not timed.
`describe_cpu()` names the processor beside every published rate (tiles/speed.py, model/speed.py, bench/);
`PeakMemory` samples the resident memory of a process and all its descendants together (the benchmarks').
"""

from __future__ import annotations

import os
import platform
import threading
import time

import torch

BUDGET = 1.0  # seconds per measured setting inside a render


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
    return {
        "model": name,
        "cores": cores,
        "threads": torch.get_num_threads(),
        "vector": torch.backends.cpu.get_cpu_capability(),
        "native bf16": native_bf16(),
    }


def describe_cpu() -> str:
    """One phrase for a table note: 'AMD EPYC, 2 cores, AVX2, no native bfloat16'."""
    c = cpu()
    return (
        f"{c['model']}, {c['cores']} core{'s' * (c['cores'] != 1)}, {c['vector']}, "
        f"{'native' if c['native bf16'] else 'no native'} bfloat16"
    )


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


def one_core(measure):
    """Run `measure()` with torch on one thread (as a DataLoader worker has it), then restore the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return measure()
    finally:
        torch.set_num_threads(threads)


def tree_rss(root: int) -> int:
    """Resident bytes of process `root` and all its descendants together, from /proc (Linux; 0 elsewhere): each
    process's proportional share (Pss: a page shared by forked workers counted once over them), or its VmRSS
    where the kernel gives no Pss."""
    parents = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    family, grew = {root}, True
    while grew:
        new = {pid for pid, parent in parents.items() if parent in family} - family
        family |= new
        grew = bool(new)
    total = 0
    for pid in family:
        for file, field in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
            try:
                with open(file) as f:
                    total += next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))
                break
            except (OSError, StopIteration):
                continue
    return total


class PeakMemory:
    """`with PeakMemory(pid) as peak:` samples tree_rss(pid) every `every` seconds; `peak.bytes` is the largest."""

    def __init__(self, pid: int | None = None, every: float = 0.2):
        self.pid, self.every, self.bytes = pid or os.getpid(), every, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(self.every):
            self.bytes = max(self.bytes, tree_rss(self.pid))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
