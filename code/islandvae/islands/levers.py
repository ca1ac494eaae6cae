"""Which lever moves chapter 5's island scores: one change to the config at a time, trained and scored.

`lever_configs(config)` gives the variants, each a run of its own at the same budget: the levers aimed at
making the latent carry cell size and shape rather than brightness (tile normalisation, the latent map, a
texture term in the loss, a corrupted encoder input, island-rich sampling) and the KL weight. `measure_levers(config)`
puts the main run and every finished variant through chapter 5's island pipeline (discovery.py) and writes
their island-level scores, with the baselines', to `results/levers-<name>.json` with the signature of the
config it belongs to. Training them takes longer than a report (`make levers`), so the table is kept in the
repository and the chapter shows it only while that signature matches its config.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from pathlib import Path

from islandvae import files
from islandvae.config import Config
from islandvae.files import show, write_atomic
from islandvae.model import checkpoint
from islandvae.model.runs import Run, typed_on_itself

SHOWN = ("island ARI", "island balanced accuracy", "island type", "brain probe", "recon MSE")
HIGHER = {
    "island ARI": True,
    "island balanced accuracy": True,
    "island type": True,
    "brain probe": False,
    "recon MSE": False,
}
BASELINES = ("pixel PCA", "tile mean + std", "texture statistics", "measured cells")
BUDGETS = (500, 2000, 4000)  # the training budget as a curve: the run as configured is its 1,000-step point
FINE = 4  # the finer grid's stride: a quarter of a tile (the island pipeline's grid steps half a tile)
FINE_LABEL = "quarter-tile stride, 8 orientations pooled"


def lever_configs(config: Config) -> dict[str, Config]:
    """One config per lever, each differing from `config` in one setting (its own run folder); a lever changes the
    main model, and its islands are typed on it (islands.typing "main": no second model per lever)."""
    s, m, t = config.sampling, config.model, config.train
    variants = {
        f"tile normalisation {'off' if m.normalise else 'on'}": dict(
            model=dataclasses.replace(m, normalise=not m.normalise)
        ),
        f"{'flat latent' if m.latent_map else 'latent map'}": dict(
            model=dataclasses.replace(m, latent_map=not m.latent_map)
        ),
        f"texture term {'off' if t.texture else 'on'}": dict(
            train=dataclasses.replace(t, texture=0.0 if t.texture else 2.0)
        ),
        f"encoder input {'clean' if s.corrupt else 'corrupted'}": dict(
            sampling=dataclasses.replace(s, corrupt=0.0 if s.corrupt else 1.5)
        ),
        f"{'tissue' if s.strategy == 'dense' else 'dense'} sampling": dict(
            sampling=dataclasses.replace(s, strategy="tissue" if s.strategy == "dense" else "dense")
        ),
        f"beta {t.beta / 5:g}": dict(train=dataclasses.replace(t, beta=t.beta / 5)),
    } | {f"{n:,} steps": dict(train=dataclasses.replace(t, max_steps=n)) for n in BUDGETS if n != t.max_steps}
    return {
        label: dataclasses.replace(typed_on_itself(config), name=f"{config.name}-lever-{slug(label)}", **change)
        for label, change in variants.items()
    }


def slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label).replace("--", "-").strip("-")


def results_path(config: Config):
    return config.paths.results / f"levers-{config.name}.json"


def scored(name: str, result, features: str) -> dict:
    """One table row from a discovery result (records.IslandResult, with truth): the island-level and tile-level
    scores of `features`."""
    island = result.truth.island_scores[features]
    tile = next(r for r in result.truth.measures if r["features"] == features)
    row = {"features": name, "island ARI": island["ari"], "island balanced accuracy": island["balanced accuracy"]}
    return row | {k: tile[k] for k in ("island type", "brain probe", "recon MSE") if k in tile}


def measure_levers(config: Config, progress=print) -> dict:
    """Score the main run and every finished lever run with the island pipeline; write and return the table."""
    from islandvae.islands.discovery import Discovery
    from islandvae.latent.analysis import Analysis

    runs = {"as configured": config} | lever_configs(config)
    rows, baselines = [], []
    for label, c in runs.items():
        run = Run.of(c)
        if not (run.best.is_file() and run.done(c)):
            progress(f"{label}: no finished run in {show(run.folder)}; left out")
            continue
        progress(f"{label}: island pipeline on {show(run.best)}")
        analysis = Analysis(c)
        if not analysis.has_truth:
            progress(f"{label}: the data has no truth file; nothing to score")
            return {}
        result = Discovery(analysis, baselines=label == "as configured").result()  # the baselines once
        vae = next(iter(result.truth.island_scores))
        steps = checkpoint.load(run.last, c)["step"]
        rows.append(scored(label, result, vae) | {"steps": steps})
        if label == "as configured":
            from islandvae.islands.features import (
                POOLED,  # a lever without training: the same model, 8 views pooled
            )

            rows.append(scored("8 orientations pooled", result, POOLED) | {"steps": steps})
            progress(f"{FINE_LABEL}: the true islands on a finer grid")
            rows.append({"features": FINE_LABEL, "steps": steps} | fine_stride_scores(analysis))
            baselines = [
                scored(name, result, name) for name in result.truth.island_scores if name.startswith(BASELINES)
            ]
    old = read_levers(config)  # lever runs measured before and not here any more: kept, marked with their commit
    if old is not None:
        here = {r["features"] for r in rows}
        for r in old["rows"]:
            if r["features"].split(" (at ")[0] not in here:
                marked = r["features"] if " (at " in r["features"] else f"{r['features']} (at {old['commit']})"
                rows.append(r | {"features": marked})
    table = {
        "signature": checkpoint.run_signature(config),
        "measured": time.strftime("%Y-%m-%d"),
        "commit": _commit(),
        "rows": rows,
        "baselines": baselines,
    }
    write_atomic(results_path(config), json.dumps(table, indent=1).encode())
    progress(f"wrote {show(results_path(config))}")
    return table


def fine_stride_scores(analysis, *, divisor: int = FINE) -> dict:
    """A lever at the cells' scale that needs no training: the test brain's true islands on a grid whose stride
    is 1 / `divisor` of a tile (four times the tiles of the pipeline's half-tile grid, so each island is the mean
    of more, overlapping views), each tile described by the readout pooled over its 8 orientations and typed as
    the pipeline types (types.island_types); the island ARI and balanced accuracy against the true types, with
    intervals, and how many islands and tiles the finer grid holds."""
    import numpy as np

    from islandvae.data.truth import TruthFile, truth_path
    from islandvae.islands.features import features_of
    from islandvae.islands.grid import tissue_grid, true_islands
    from islandvae.islands.types import agreement, island_types
    from islandvae.tiles.tissue import tissue_map

    a, s = analysis, analysis.config.sampling.tile_size
    with TruthFile(truth_path(a.config.data.path)) as truth:
        grid = tissue_grid(
            a.test_images.infos(), tissue_map(a.test_images, a.stats), tile=s, stride=max(s // divisor, 1), truth=truth
        )
    true, kinds = true_islands(grid)
    tiles = np.flatnonzero(true >= 0)
    features = features_of(a.model, a.test_images, [grid.keys[t] for t in tiles], a.stats, pooled=True)
    types = island_types(features, true[tiles], seed=a.config.train.seed)
    scores = agreement(types["type"], kinds)
    return {
        "island ARI": scores["ari"],
        "island balanced accuracy": scores["balanced accuracy"],
        "islands": len(kinds),
        "tiles": len(tiles),
    }


def _commit() -> str:
    """The commit the code was measured at, with a '+' when the code had uncommitted changes (as git describe
    --dirty marks it)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "code"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+" if changed else "")


def kept_result(path: Path, config: Config, what: str, command: str) -> dict | None:
    """A result table kept in results/ when it belongs to `config` (same run signature); None when it is missing,
    another config's, or damaged (then with a warning that `command` writes it anew)."""
    if not path.is_file():
        return None
    table = files.recomputed(path, lambda p: json.loads(p.read_text()), what, f"not shown: `{command}` writes it anew")
    if not isinstance(table, dict) or checkpoint.with_defaults(table.get("signature", {})) != json.loads(
        json.dumps(checkpoint.run_signature(config))
    ):
        return None
    return table


def read_levers(config: Config) -> dict | None:
    """The saved table when it belongs to this config (same run signature), else None."""
    table = kept_result(results_path(config), config, "lever table", "make levers")
    if table is None:
        return None
    rows = table.get("rows") or []
    if not rows or any(m not in rows[0] for m in SHOWN[:2]):
        return None  # no run scored, or a table of another layout (an earlier version's tile-level levers)
    for row in table["rows"] + table["baselines"]:
        for k, v in row.items():
            if isinstance(v, list):
                row[k] = tuple(v)
    return table


def lever_intro(config: Config, table: dict | None) -> str:
    """What the lever section is about, and where its table comes from (or how to make it)."""
    text = (
        "The model behind these results is one setting of each lever that could make the latent carry the cells' "
        "size and shape rather than the stain's brightness. Each lever run changes one setting of the config "
        "and keeps every other at the same budget; all are scored by the island pipeline above. Three more "
        "levers: the training budget as a curve (the same model after 500, 1,000, 2,000 and 4,000 steps, the "
        "stopping rule unchanged, so a run may stop before its budget; with the rule off the curve runs its "
        "steps in bench/budget_curve.py, whose figures are in docs/method.md; `configs/long.toml` is the default's "
        "model trained to 4,000 steps that way, and `make report CONFIG=configs/long.toml` renders the report "
        "from it), orientation invariance without "
        "retraining: the readout averaged over each tile's 8 views (rotations and mirror images; O2-VAE, "
        "Burgess et al., Nature Communications 2024, show that orientation-invariant VAE features cluster cell "
        "morphology far better than plain ones), and a finer view of each island, also without retraining: "
        "the true islands on a grid of quarter-tile stride instead of half a tile, so that each island is the "
        "mean of four times as many views, each shifted by a quarter of a tile and pooled over its 8 "
        "orientations. The budget, pooling and stride levers are also scored on two of the other stand-ins (the "
        "table after this one). `make levers` trains them (each about as long as its budget on 2 CPU cores) and "
        "writes the table to `results/`, where it is kept, because a report render cannot afford the training."
    )
    if table is None:
        return text + (
            f" There is no lever table for this config yet (`{results_path(config).name}` is missing or "
            "was measured with other settings): `make levers` trains the lever runs and writes it."
        )
    return text


def lever_effects(table: dict, measures=SHOWN) -> list[dict]:
    """Per lever: each measure's value and its change from the run as configured, (value, '+0.03') or (value,
    'tie') inside the intervals; then the baselines."""
    from islandvae.tables import change

    base = next((r for r in table["rows"] if r["features"] == "as configured"), None)
    out = []
    for row in table["rows"]:
        entry = {"lever": row["features"], "steps": row["steps"]}
        for m in measures:
            if m not in row:
                continue
            v = row[m][0]
            entry[m] = v
            if base is not None and row is not base and m in base:
                entry[m] = (v, change(v - base[m][0]) if _apart(row[m], base[m]) else "tie")
        out.append(entry)
    for b in table["baselines"]:
        out.append({"lever": b["features"], "steps": None, **{m: b[m][0] for m in measures if m in b}})
    return [{k: r.get(k) for k in ("lever", "steps", *measures) if any(k in x for x in out)} for r in out]


ISLAND_COLUMNS = ("lever", "steps", "island ARI", "island balanced accuracy")
TILE_COLUMNS = ("lever", "island type", "brain probe", "recon MSE")


def lever_tables(table: dict) -> tuple[list[dict], list[dict]]:
    """lever_effects split for the page: the island-level columns, and the tile-level ones."""
    effects = lever_effects(table)
    return tuple([{k: r[k] for k in columns if k in r} for r in effects] for columns in (ISLAND_COLUMNS, TILE_COLUMNS))


def lever_text(table: dict) -> str:
    """When and from which commit the lever table was measured, and what it finds."""
    return f"Measured on {table['measured']} (commit {table['commit']}) with `make levers`. " + lever_findings(table)


def lever_findings(table: dict) -> str:
    """Per measure: the lever that improved the VAE most, by how much and whether outside the intervals (or that
    none improved it), and where that run stands against the strongest baseline."""
    rows = {r["features"]: r for r in table["rows"]}
    base = rows.get("as configured")
    if base is None or len(rows) < 2:
        return "The table lacks the run as configured or every lever run; `make levers` completes it."
    sentences, moved_any = [], []
    for m in SHOWN:
        if m not in base:
            continue
        sign = 1 if HIGHER[m] else -1
        best = max((r for r in rows.values() if r is not base and m in r), key=lambda r: sign * r[m][0])
        gain = sign * (best[m][0] - base[m][0])
        outside = _apart(best[m], base[m])
        if gain < 0.01:
            text = (
                f"{m}: no lever improved it by 0.01 or more ({base[m][0]:.2f} as configured; best "
                f"{best['features']}: {best[m][0]:.2f})"
            )
        else:
            text = (
                f"{m}: {best['features']} improved it most, {base[m][0]:.2f} to {best[m][0]:.2f} "
                f"({'outside' if outside else 'inside'} the intervals)"
            )
            if outside:
                moved_any.append(f"{m} ({best['features']})")
        rivals = [b for b in table["baselines"] if m in b]
        if rivals:
            strongest = max(rivals, key=lambda b: sign * b[m][0])
            ahead = sign * (best[m][0] - strongest[m][0]) > 0
            where = "tied with" if not _apart(best[m], strongest[m]) else "ahead of" if ahead else "behind"
            text += f", {where} the strongest baseline, {strongest['features']} ({strongest[m][0]:.2f})"
        sentences.append(text)
    worse = {}
    for label, row in rows.items():
        for m in SHOWN:
            if (
                row is not base
                and m in row
                and m in base
                and _apart(row[m], base[m])
                and (1 if HIGHER[m] else -1) * (row[m][0] - base[m][0]) < 0
            ):
                worse.setdefault(label, []).append(m)
    lead = (
        "Outside the intervals, levers improved: " + ", ".join(moved_any) + ". "
        if moved_any
        else "No lever improved any measure outside the intervals. "
    )
    if worse:
        lead += (
            "Outside the intervals, "
            + "; ".join(f"{label} made {', '.join(ms)} worse" for label, ms in worse.items())
            + ". "
        )
    return lead + "Per measure: " + "; ".join(sentences) + "."


def _apart(a: tuple, b: tuple) -> bool:
    """Whether two (value, low, high) scores have disjoint intervals."""
    return a[1] > b[2] or a[2] < b[1]
