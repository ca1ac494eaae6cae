"""Which lever moves chapter 5's measures: one change to the config at a time, trained and scored.

`lever_configs(config)` gives the variants (augmentation off, beta lower and higher, tile size 32,
twice the budget), each a run of its own. `measure_levers(config)` scores the main run and every
finished variant the way chapter 5 scores the main model, beside the two baselines at the variant's
tile size, and writes the table to `results/levers-<name>.json` with the signature of the config it
belongs to. Training them takes longer than a report (`make levers`), so the table is kept in the
repository and the chapter shows it only while that signature matches its config.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time

from islandvae import checkpoint
from islandvae.config import Config, show
from islandvae.latent import embed, pixel_pca, tile_sets, trivial_features
from islandvae.measures import score_features
from islandvae.stats import write_atomic
from islandvae.train import Run, load_model

SHOWN = ("recon MSE", "linear probe", "kNN", "island type", "brain probe")  # the measures the levers table keeps


def lever_configs(config: Config) -> dict[str, Config]:
    """One config per lever, each differing from `config` in one setting (its own run folder)."""
    s, t = config.sampling, config.train
    variants = {
        "augmentation off": dict(sampling=dataclasses.replace(s, augment=not s.augment)),
        f"beta {t.beta / 5:g}": dict(train=dataclasses.replace(t, beta=t.beta / 5)),
        f"beta {t.beta * 5:g}": dict(train=dataclasses.replace(t, beta=t.beta * 5)),
        f"tile {s.tile_size // 2}": dict(sampling=dataclasses.replace(s, tile_size=s.tile_size // 2)),
        f"budget {2 * t.max_steps} steps": dict(train=dataclasses.replace(t, max_steps=2 * t.max_steps)),
    }
    if s.augment is False:
        variants["augmentation on"] = variants.pop("augmentation off")
    return {label: dataclasses.replace(config, name=f"{config.name}-lever-{slug(label)}", **change)
            for label, change in variants.items()}


def slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label).replace("--", "-").strip("-")


def results_path(config: Config):
    return config.paths.results / f"levers-{config.name}.json"


def measure_levers(config: Config, progress=print) -> dict:
    """Score the main run and every finished lever run; write and return the table."""
    runs = {"as configured": config} | lever_configs(config)
    rows, baselines = [], {}
    for label, c in runs.items():
        run = Run.of(c)
        if not (run.best.is_file() and run.done(c)):
            progress(f"{label}: no finished run in {show(run.folder)}; left out")
            continue
        progress(f"{label}: scoring {show(run.best)}")
        test, train = tile_sets(c)
        latent = embed(load_model(run.best, c), run.best, test, train)
        row = score_features(label, latent["train"], latent["test"], train, test, latent["test_mse"])
        tile = c.sampling.tile_size
        row |= {"steps": checkpoint.load(run.last, c)["step"], "tile": tile}
        rows.append(_kept(row))
        if tile not in baselines:
            pca = pixel_pca(c, test, train, c.model.latent)
            baselines[tile] = [
                _kept(score_features(f"pixel PCA-{pca['test'].shape[1]}", pca["train"], pca["test"], train, test,
                                     pca["test_mse"]) | {"tile": tile}),
                _kept(score_features("tile mean + std", trivial_features(train), trivial_features(test), train, test,
                                     None) | {"tile": tile})]
    table = {"signature": checkpoint.run_signature(config), "measured": time.strftime("%Y-%m-%d"),
             "commit": _commit(), "rows": rows, "baselines": [r for rs in baselines.values() for r in rs]}
    path = results_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(table, indent=1).encode())
    progress(f"wrote {show(path)}")
    return table


def _kept(row: dict) -> dict:
    return {k: v for k, v in row.items() if k in ("features", "steps", "tile", *SHOWN)}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def read_levers(config: Config) -> dict | None:
    """The saved table when it belongs to this config (same run signature), else None."""
    path = results_path(config)
    if not path.is_file():
        return None
    table = json.loads(path.read_text())
    if table.get("signature") != json.loads(json.dumps(checkpoint.run_signature(config))):
        return None
    for row in table["rows"] + table["baselines"]:
        for k, v in row.items():
            if isinstance(v, list):
                row[k] = tuple(v)
    return table


def lever_effects(table: dict, measures=SHOWN) -> list[dict]:
    """Per lever: each measure's value and its change from the run as configured ('+0.03', or 'tie' inside the
    intervals)."""
    base = next((r for r in table["rows"] if r["features"] == "as configured"), None)
    out = []
    for row in table["rows"]:
        entry = {"lever": row["features"], "steps": row["steps"]}
        for m in measures:
            if m not in row:
                continue
            v, lo, hi = row[m]
            entry[m] = f"{v:.2f}"
            if base is not None and row is not base and m in base:
                b, b_lo, b_hi = base[m]
                moved = f"{v - b:+.2f}"
                entry[m] += f" ({moved}{'' if hi < b_lo or lo > b_hi else ', tie'})"
        out.append(entry)
    for b in table["baselines"]:  # the baselines at each tile size, for comparison
        out.append({"lever": f"{b['features']}, tile {b['tile']}", "steps": "-",
                    **{m: f"{b[m][0]:.2f}" for m in measures if m in b}})
    return [{k: r.get(k, "-") for k in ("lever", "steps", *measures) if any(k in x for x in out)} for r in out]


def lever_findings(table: dict) -> str:
    """Per measure: the lever that improved the VAE most, by how much and whether outside the intervals (or that
    none improved it), and where that lever run stands against the strongest baseline at its tile size."""
    rows = {r["features"]: r for r in table["rows"]}
    base = rows.get("as configured")
    if base is None or len(rows) < 2:
        return "The table lacks the run as configured or every lever run; `make levers` completes it."
    sentences, moved_any = [], []
    for m, higher in (("recon MSE", False), *((m, True) for m in ("linear probe", "kNN", "island type")),
                      ("brain probe", False)):
        if m not in base:
            continue
        sign = 1 if higher else -1
        best = max((r for r in rows.values() if r is not base and m in r), key=lambda r: sign * r[m][0])
        gain = sign * (best[m][0] - base[m][0])
        outside = _apart(best[m], base[m])
        if gain < 0.01:
            text = (f"{m}: no lever improved it by 0.01 or more ({base[m][0]:.2f} as configured; best "
                    f"{best['features']}: {best[m][0]:.2f})")
        else:
            text = (f"{m}: {best['features']} improved it most, {base[m][0]:.2f} to {best[m][0]:.2f} "
                    f"({'outside' if outside else 'inside'} the intervals)")
            if outside:
                moved_any.append(f"{m} ({best['features']})")
        rivals = [b for b in table["baselines"] if b["tile"] == best["tile"] and m in b]
        if rivals:
            strongest = max(rivals, key=lambda b: sign * b[m][0])
            ahead = sign * (best[m][0] - strongest[m][0]) > 0
            where = "tied with" if not _apart(best[m], strongest[m]) else "ahead of" if ahead else "behind"
            text += f", {where} the strongest baseline at tile {best['tile']}, {strongest['features']} " \
                    f"({strongest[m][0]:.2f})"
        sentences.append(text)
    lead = ("Outside the intervals, the levers moved only: " + ", ".join(moved_any) + ". " if moved_any else
            "No lever moved any measure outside the intervals. ")
    return lead + "Per measure: " + "; ".join(sentences) + "."


def _apart(a: tuple, b: tuple) -> bool:
    """Whether two (value, low, high) scores have disjoint intervals."""
    return a[1] > b[2] or a[2] < b[1]
