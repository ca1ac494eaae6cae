"""What chapter 5 and the summary show from the robustness table (robustness.py measures it): its two tables
(finding and typing, one row per data set), the levers scored on more than one stand-in, and the sentences
around them.
"""

from __future__ import annotations

import dataclasses
import json

from islandvae.config import Config
from islandvae.islands.levers import BUDGETS
from islandvae.islands.robustness import LEVER_SETS, POOLED, results_path, vae_name
from islandvae.islands.sections import LIMITS, sections_finding


def typing_name(row: dict) -> str:
    """The space the pipeline types with: the pooled VAE where it was scored, else the VAE."""
    return POOLED if POOLED in row["scores"] else vae_name(row)


def table_rows(table: dict, default: dict | None = None) -> tuple[list[dict], list[dict]]:
    """Two tables, one row per data set each. Finding: how well islands were found without truth (recall,
    precision), the types found and their ARI against the truth (the pipeline as a user runs it). Typing: the
    island ARI on the true islands of the VAE, the VAE pooled over orientations (the readout the pipeline types
    with), the measured cells and texture statistics, with the supervised ceilings of the pooled VAE and of texture
    statistics. `default`: the config's own data set (its robustness entry) as the first row."""
    sets = ({"default (as reported)": default} if default else {}) | table["sets"]
    finding, typing = [], []
    for label, row in sets.items():
        f = row["found"]

        def cell(space, where="scores"):
            return row[where][space]["ari"][0] if space in row[where] else None

        found = f["found islands"] > 0
        finding.append(
            {
                "data": label,
                "recall": f["recall"] if found else None,
                "precision": f["precision"] if found else None,
                "found": f["found islands"],
                "true": f["true islands"],
                "types": f["types"],
                "pipeline ARI": f["agreement"]["ari"][0] if f.get("agreement") else None,
            }
        )
        typing.append(
            {
                "data": label,
                "VAE": cell(vae_name(row)),
                "pooled": cell(POOLED),
                "cells": cell("measured cells"),
                "texture": cell("texture statistics"),
                "pooled ceiling": cell(POOLED, "ceilings"),
                "texture ceiling": cell("texture statistics", "ceilings"),
            }
        )
    return finding, typing


def missing_text(config: Config) -> str:
    """What chapter 5 says where the config has no robustness table yet."""
    return (
        "There is no robustness table for this config yet: `make robustness` generates eight other stand-ins "
        "(other "
        "seeds, a harder one, sparser islands, larger cells, sections imaged differently, a coarser scan), trains "
        "the same pipeline on each and writes "
        f"`results/{results_path(config).name}`."
    )


INTRO = (
    "Our stand-in is one guess at the course file. The same pipeline, unchanged (the config's model, budget and "
    "rules; no comparison models), was trained and scored on eight other stand-ins: three other seeds, one at "
    "difficulty 0.6, one whose islands hold a small share of the usual island cells (about twice the tissue's "
    "density), one whose cells are all half as large again, one whose every section is stained and scanned "
    "differently (stain strength, neuropil, glass level, blur and gamma drawn per section), and one scanned at "
    "1.5 times the pixel size (cells smaller in px). The third table says whether a typing follows the "
    "sections rather than the cells: how well a linear probe tells an island's section from its descriptors "
    "(against chance), the agreement of the types with the sections (ARI), and the largest correlation of the "
    "typing axis with the sections' own tissue statistics (grey level, contrast, sharpness, noise of their "
    f"ordinary tissue); a typing that follows the cells keeps the ARI at most {LIMITS['types ~ sections ARI']} "
    f"and |r| at most {LIMITS['axis ~ section |r|']}. Each data set is synthetic; none says anything about "
    "brains."
)


def no_levers_text() -> str:
    """What chapter 5 says where the robustness table holds no lever scores yet."""
    return (
        "The robustness table holds no lever scores yet: `make robustness` adds them for "
        + " and ".join(LEVER_SETS)
        + "."
    )


def measured_text(table: dict) -> str:
    """The findings, and when and from which commit the table was measured (and the rows measured apart, with
    `islandvae robustness --sets`: their date, commit and CPU)."""
    text = findings(table) + f" Measured on {table['measured']} (commit {table['commit']}) with `make robustness`"
    apart = {
        label: row["measured"]
        for label, row in table["sets"].items()
        if "measured" in row and row["measured"]["commit"] != table["commit"]
    }
    if apart:
        text += "; measured again apart, with `islandvae robustness --sets`: " + "; ".join(
            f"{label} on {m['date']} (commit {m['commit']}, {m['cpu']})" for label, m in apart.items()
        )
    return text + ". " + ANOTHER_CPU


# The island pipeline's settings a robustness row was measured with where it does not say (before they were kept)
EARLIER_ISLANDS = {"typing": "main", "starts": 1}


def settings_text(table: dict, config: Config) -> str:
    """A sentence where the panel's rows were measured with other island pipeline settings ([islands]: not in the
    run signature, so the rows still belong to the config) than `config` has; "" where they agree."""
    own = dataclasses.asdict(config.islands)
    other = {}
    for label, row in table["sets"].items():
        then = EARLIER_ISLANDS | row.get("measured", {}).get("islands", {})
        for key, value in then.items():
            if own.get(key) != value:
                other.setdefault(f"islands.{key} = {json.dumps(value)}", []).append(label)
    if not other:
        return ""
    settings = "; ".join(f"{setting} ({len(labels)} of {len(table['sets'])} sets)" for setting, labels in other.items())
    now = ", ".join(f"islands.{k} = {json.dumps(v)}" for k, v in own.items())
    return (
        f"The panel's rows were measured with other island pipeline settings than this config's ({now}): {settings}; "
        "only the row of the default stand-in as reported is this config's pipeline (`make robustness` measures "
        "the panel again; docs/method.md compares the settings on four of the sets)."
    )


# The same config trained on another CPU (AVX2 against AVX-512 kernels) is another run: docs/method.md
ANOTHER_CPU = (
    "A run trained on another CPU is another run (float32 sums in another order send the training elsewhere), and "
    "the islands found and the number of types can change with it: read figures from another machine as those of "
    "another training seed (docs/method.md measures how far they moved)."
)


def summary_line(table: dict) -> str:
    """Median and worst VAE island ARI over the robustness sets, and where the finder failed."""
    import numpy as np

    aris = {label: row["scores"][typing_name(row)]["ari"][0] for label, row in table["sets"].items()}
    worst = min(aris, key=aris.get)
    missed = [label for label, row in table["sets"].items() if not row["found"]["found islands"]]
    pooled = all(typing_name(row) == POOLED for row in table["sets"].values())
    return (
        f"On {len(aris)} other stand-ins the {'pooled ' if pooled else ''}VAE types the true islands at median "
        f"ARI {np.median(list(aris.values())):.2f}, worst {aris[worst]:.2f} ({worst})"
        + (f"; no island found in {', '.join(missed)}" if missed else "")
        + "."
    )


def findings(table: dict, default: dict | None = None) -> str:
    """Where the pipeline holds and where it fails, read off the table: the finder's recall and precision, the
    number of types, and the VAE's island ARI against the measured cells, texture statistics and its ceiling."""
    import numpy as np

    sets = table["sets"]
    vae = {label: row["scores"][typing_name(row)]["ari"][0] for label, row in sets.items()}
    text = [summary_line(table)]
    weak_finder = [
        f"{label} (recall {row['found']['recall']:.2f}, precision {row['found']['precision']:.2f})"
        if row["found"]["found islands"]
        else f"{label} (no island found)"
        for label, row in sets.items()
        if not (row["found"]["recall"] >= 0.9 and row["found"]["precision"] >= 0.8)
    ]
    text.append(
        "The finder reaches recall 0.9 and precision 0.8 on every set."
        if not weak_finder
        else "The finder falls short of recall 0.9 or precision 0.8 on " + ", ".join(weak_finder) + "."
    )
    types = {label: row["found"]["types"] for label, row in sets.items()}
    other = [f"{label} ({k})" for label, k in types.items() if k != 2]
    text.append(
        "On every set the found islands fall into 2 types."
        if not other
        else f"The found islands fall into 2 types on {len(types) - len(other)} of {len(types)} sets; the others: "
        + ", ".join(other)
        + "."
    )
    behind = [
        label
        for label, row in sets.items()
        if "measured cells" in row["scores"]
        and row["scores"]["measured cells"]["ari"][1] > row["scores"][typing_name(row)]["ari"][2]
    ]
    if behind:
        text.append(
            "Outside the intervals the measured cells type the true islands better than the VAE on "
            + ", ".join(behind)
            + ": there the latent holds less of the cells than a blob count."
        )
    gaps = {label: row["ceilings"][typing_name(row)]["ari"][0] - vae[label] for label, row in sets.items()}
    wide = [f"{label} ({vae[label]:.2f} against {vae[label] + gaps[label]:.2f})" for label in gaps if gaps[label] > 0.2]
    if wide:
        text.append(
            "The VAE's supervised ceiling lies well above its unsupervised typing on "
            + ", ".join(wide)
            + ": the latent holds the difference there, the typing does not find it."
        )
    for label, row in sets.items():  # a harder task: the aim is 0.8 x what texture reaches with labels
        if row.get("data", {}).get("difficulty", 0) >= 0.6 and "texture statistics" in row["ceilings"]:
            ceiling = row["ceilings"]["texture statistics"]["ari"][0]
            text.append(
                f"At difficulty {row['data']['difficulty']:g} ({label}) the VAE reaches ARI {vae[label]:.2f}, "
                f"{'at least' if vae[label] >= 0.8 * ceiling else 'below'} 0.8 times texture statistics' "
                f"supervised ceiling ({ceiling:.2f})."
            )
    text.append(sections_finding(sets))  # where the found types follow the sections
    median = float(np.median(list(vae.values())))
    text.append(
        f"Median island ARI {median:.2f} ({'meets' if median >= 0.8 else 'misses'} the aim of 0.8), worst "
        f"{min(vae.values()):.2f} ({'above' if min(vae.values()) >= 0.5 else 'below'} 0.5)."
    )
    return " ".join(text)


def _lever_sets(table: dict) -> dict:
    """The lever scores of each LEVER_SETS data set that has them: label -> lever -> scores."""
    return {label: table["sets"][label]["levers"] for label in LEVER_SETS if "levers" in table["sets"].get(label, {})}


def _default_levers(levers: dict | None) -> dict:
    """The default stand-in's lever table (levers.read_levers) under the names set_levers uses, without the rows
    kept from earlier commits: lever -> {"ari": [v, lo, hi]}."""
    return {
        ("VAE" if r["features"] == "as configured" else r["features"]): {"ari": list(r["island ARI"])}
        for r in (levers or {}).get("rows", [])
        if " (at " not in r["features"]
    }


def lever_rows(table: dict, levers: dict | None = None) -> list[dict]:
    """The levers that were also scored on LEVER_SETS: per lever its island ARI on the true islands of the default
    stand-in (from the lever table, `levers`) and of each such set, '-' where it was not measured."""
    sets, default = _lever_sets(table), _default_levers(levers)
    budgets = [f"{n:,} steps" for n in BUDGETS if f"{n:,} steps" in default]
    rows = []
    for name in dict.fromkeys([n for s in sets.values() for n in s] + budgets):
        cells = {"lever": name, "default": default[name]["ari"][0] if name in default else None}
        cells |= {label: s[name]["ari"][0] if name in s else None for label, s in sets.items()}
        rows.append(cells)
    return rows


def lever_findings(table: dict, levers: dict | None = None) -> str:
    """Per data set of lever_rows: which lever typed best against the VAE as configured, whether it moved the ARI
    outside the intervals, and the budget at which one view's curve peaks."""
    sets = ({"default": _default_levers(levers)} if levers is not None else {}) | _lever_sets(table)
    text = []
    for label, row in sets.items():
        if "VAE" not in row:
            continue
        best = max(row, key=lambda name: row[name]["ari"][0])
        base, top = row["VAE"]["ari"], row[best]["ari"]
        curve = {name: v["ari"][0] for name, v in row.items() if name.endswith(" steps")}
        curve["the configured budget"] = base[0]
        text.append(
            f"{label}: best {best} (ARI {top[0]:.2f} against {base[0]:.2f} for one view at the configured "
            f"budget, {'outside' if top[1] > base[2] else 'inside'} the intervals); one view's budget curve "
            f"peaks at {max(curve, key=curve.get)}"
        )
    return "Per data set: " + "; ".join(text) + "." if text else ""
