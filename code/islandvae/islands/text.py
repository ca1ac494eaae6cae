"""What chapter 5 says about the islands, from discovery's result: the sentences and the tables' rows.

Kept apart from discovery.py (which computes and caches the result) so that rewording a sentence or restyling a
table changes no cache key and recomputes nothing.
"""

from __future__ import annotations

import numpy as np

from islandvae.islands.catalogue import catalogue_rows
from islandvae.islands.features import MEASURES
from islandvae.islands.finder import AGREE, BORDER_RANK, CORE_QUANTILE, CORE_RANK, EDGE_SHARE
from islandvae.islands.records import IslandResult
from islandvae.islands.types import chosen_types
from islandvae.latent.measures import fmt
from islandvae.tables import span


def extent_rows(infos: list, arrays: dict, result: IslandResult) -> list[dict]:
    """Per type (and the islands set apart): how many islands, and their footprint area (median, quartiles and
    the largest, px) and bounding-box side (median of the longer side, px)."""
    rows = catalogue_rows(infos, arrays, result)
    out = []
    for kind in sorted({r["type"] for r in rows}, key=lambda t: (isinstance(t, str), t)):
        members = [r for r in rows if r["type"] == kind]
        area = np.array([r["area (px)"] for r in members])
        side = np.array([max(r["bottom"] - r["top"], r["right"] - r["left"]) for r in members])
        q1, q2, q3 = np.percentile(area, [25, 50, 75])
        out.append(
            {
                "type": kind if isinstance(kind, str) else f"type {kind}",
                "islands": len(members),
                "median area": int(np.rint(q2)),
                "quartiles": span(q1, q3, 0),
                "largest": int(area.max()),
                "median side": int(np.rint(np.median(side))),
            }
        )
    return out


def finding_text(result: IslandResult) -> str:
    """How the islands were found (the rule and its numbers) and, with truth, how well they match the true ones."""
    c, f, g = result.clusters, result.found, result.grid
    cores = [f"{100 * c.rank[k]:.0f} % ({c.density[k]:.0f} cells)" for k in c.island_clusters]
    first = f", in the first of the {c.starts} clusterings (each from a seed of its own)," if c.starts > 1 else ""
    text = (
        f"The {g.tiles:,} tissue tiles of the test brain ({g.tile} px, stride "
        f"{g.stride} px) fall{first} into {c.k} clusters by the lowest BIC. The blob detector counts "
        f"the cells on every tile: the tissue (the largest cluster) holds a median of "
        f"{c.tissue_density:.0f} cells per 10,000 px. Each other cluster's tiles are compared with the "
        f"tissue's by rank, so no ratio of island to tissue density is assumed: "
    )
    vote = (
        f"A tile is a core (border) tile where at least {min(AGREE, c.starts)} of the {c.starts} clusterings "
        "call it so. "
        if c.starts > 1
        else ""
    )
    text += (
        f"{len(cores)} {'clusters are' if len(cores) != 1 else 'cluster is'} denser in at least "
        f"{100 * CORE_RANK:.0f} % of (cluster tile, tissue tile) pairs ({', '.join(cores)} per 10,000 px) and "
        f"{'make' if len(cores) != 1 else 'makes'} the islands' cores; border tiles come from clusters denser in "
        f"at least {100 * BORDER_RANK:.0f} %. " + vote
        if cores
        else f"no cluster is denser in {100 * CORE_RANK:.0f} % of (cluster tile, tissue tile) pairs"
        + (", so the section holds no island by this rule. " if not vote else " in that clustering. " + vote)
    )
    if not f.islands:
        return text + "No island was found in the test brain, so there is nothing to type."
    text += (
        f"Of {f.candidates} connected regions of such tiles, {f.islands} ({f.tiles:,} tiles) have a core "
        f"at least as dense on its own pixels as {100 * CORE_QUANTILE:.0f} % of the tissue's tiles "
        f"({c.threshold:.0f} cells per 10,000 px) and are the found islands"
    )
    text += (
        f"; {f.set_apart} of them lie at the section's edge (on average less than {100 * EDGE_SHARE:.0f} % "
        "of their tiles is tissue) and are set apart, not typed."
        if f.set_apart
        else "."
    )
    if result.truth is not None:
        m = result.truth.match
        text += (
            f" On the stand-in the truth has {m['true islands']} islands on the same grid: "
            f"{100 * m['recall']:.0f} % "
            f"of them are found (a found island holds at least half of their tiles), {100 * m['precision']:.0f} % "
            f"of the found islands are mostly true island tiles, and the mean best overlap (intersection over "
            f"union of tiles) is {m['overlap']:.2f}."
        )
        if m.get("empty images"):
            text += (
                f" On the {m['empty images']} test images whose truth holds no island, the finder found "
                f"{m['found on empty images']} island{'s' * (m['found on empty images'] != 1)}."
            )
    return text


def types_text(result: IslandResult) -> str:
    """The number of types and why."""
    t = result.types
    if not t.bic:
        return (
            f"With {result.found.islands} islands there are too few to split into types "
            "(at least four per type are needed); they are described as one group."
        )
    bic = ", ".join(f"{k}: {float(v):,.1f}" for k, v in t.bic.items())
    typed = np.array(t.type)
    counts = np.bincount(typed[typed >= 0], minlength=t.k)
    best = min(t.bic, key=lambda k: t.bic[k])
    text = (
        f"The BIC of the mixtures on the typing axis is {bic} for 1 to {len(t.bic)} types (lowest for {best}); "
        f"a further type must lower it by more than {t.margin:g} ({evidence(t.margin)} evidence), so the "
        f"number of types is the smallest within that margin of the lowest, {chosen_types(t.bic)}"
    )
    if t.k_chosen:
        text += (
            " (over bootstrap resamples of the islands this rule gives "
            + ", ".join(f"{k} in {100 * v:.0f} %" for k, v in t.k_chosen.items() if v)
            + ")"
        )
    if t.k_rule == "sections":
        text += (
            ". Sections, not islands, are stained and scanned apart, so the number taken is the one this rule "
            "chooses most often over resamples of whole sections ("
            + ", ".join(f"{k} in {100 * v:.0f} %" for k, v in t.k_over_sections.items() if v)
            + f"), {t.k}"
        )
    text += (
        ": " + ", ".join(f"type {k + 1} with {n} islands" for k, n in enumerate(counts)) + "."
        if t.k > 1
        else ": the islands do not split into types along the axis, and they are described as one group."
    )
    if result.truth is not None and result.truth.found_agreement:
        a = result.truth.found_agreement
        text += (
            f" Against the truth (each found island named by the type most of its tiles have; "
            f"{result.truth.without_true_island} found islands hold no true island tile and are "
            f"left out), the found types agree at ARI {fmt(a['ari'])} and balanced accuracy "
            f"{fmt(a['balanced accuracy'])}."
        )
    return text


def sections_text(result: IslandResult) -> str:
    """Whether the found types follow the cells or the sections (sections.section_confound), said without any
    island type: the section probe against chance, the types' agreement with the sections, the axis's largest
    correlation with the sections' tissue statistics, and the verdict against sections.LIMITS."""
    from islandvae.islands.sections import LIMITS, follows_sections

    c = result.sections.found
    if not c:
        return ""
    text = []
    if c.get("types ~ sections ARI") is not None:
        probe = (
            f"a cross-validated linear probe tells an island's section from its descriptors at balanced accuracy "
            f"{c['section probe']:.2f} (chance {c['section chance']:.2f}), and "
            if c.get("section probe") is not None
            else ""
        )
        text.append(
            f"On the {c['sections with several islands']} sections that hold at least two typed islands, "
            f"{probe}the types agree with the sections at ARI {c['types ~ sections ARI']:.2f}."
        )
    else:
        text.append("Too few sections hold two typed islands to ask whether the types agree with the sections.")
    r = {k: v for k, v in c.get("axis ~ section r", {}).items() if v is not None}
    if r:
        name = max(r, key=lambda k: abs(r[k]))
        text.append(
            f"The typing axis correlates with the sections' own tissue statistics (measured on their ordinary "
            f"tissue, away from islands) at most with their {name}, r = {r[name]:.2f}."
        )
    if c.get("types ~ sections ARI") is None and not r:
        return ""
    text.append(
        (
            "These cross the project's limits (types ~ sections ARI above "
            f"{LIMITS['types ~ sections ARI']}, or |r| above {LIMITS['axis ~ section |r|']}): the types may "
            "reflect how the sections were stained and scanned rather than the cells; read them with care."
        )
        if follows_sections(c)
        else (
            f"Both stay within the project's limits (ARI at most {LIMITS['types ~ sections ARI']}, |r| at most "
            f"{LIMITS['axis ~ section |r|']}): the types do not follow the sections."
        )
    )
    return " ".join(text)


def described_rows(result: IslandResult) -> list[dict]:
    """The types' measures as table rows: (mean, low, high) per measure (tables.DIGITS for their decimals)."""
    return [
        {"type": f"type {r['type']}", "islands": r["islands"], **{m: tuple(r[m]) for m in MEASURES}}
        for r in result.described
    ]


def differences_text(result: IslandResult) -> str:
    """What distinguishes the types, from the measures: each pair of types, the measures whose intervals are
    apart, with the direction; the measures that do not separate them."""
    rows = result.described
    if len(rows) < 2:
        return "With one type there is no difference between types to describe; the table gives the islands' measures."
    words = {
        "cells / 10,000 px": ("denser", "sparser"),
        "cell diameter (px)": ("larger", "smaller"),
        "roundness": ("rounder", "less round"),
    }
    parts = []
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:
            apart, same = [], []
            for m in MEASURES:
                (va, la, ha), (vb, lb, hb) = a[m], b[m]
                if la > hb or lb > ha:
                    apart.append(f"{words[m][0] if va > vb else words[m][1]} ({m} {va:.2f} against {vb:.2f})")
                else:
                    same.append(m)
            text = f"type {a['type']} against type {b['type']}: " + ("; ".join(apart) if apart else "no measure apart")
            if apart and same:
                text += f"; alike in {', '.join(same)}"
            parts.append(text)
    return (
        "Measured on the pixels of the islands' dense tiles (95 % intervals over islands), "
        + "; ".join(parts)
        + ". Differences count only where the intervals do not overlap."
    )


def measurable(result: IslandResult) -> bool:
    """Whether the island-level scores say anything: the truth has islands of both types in the test brain."""
    return result.truth is not None and result.truth.measurable()


def not_measurable_text(result: IslandResult) -> str:
    """Why there are no island-level scores."""
    counts = ", ".join(f"{n} {t}" for t, n in (result.truth.true_islands if result.truth else {}).items())
    return (
        f"The truth has {counts} islands in the test brain: with fewer than two types, agreement with the true "
        "types cannot be measured, so the island-level scores are left out (choose a test brain with both types)."
    )


def scores_rows(result: IslandResult) -> list[dict]:
    """The island-level scores table: per feature space, the types found, ARI, balanced accuracy, and the
    supervised ceiling's balanced accuracy."""
    return [
        {
            "features": name,
            "types": v["types"],
            "ARI": tuple(v["ari"]),
            "balanced accuracy": tuple(v["balanced accuracy"]),
            "ceiling": tuple(result.truth.island_ceilings[name]["balanced accuracy"]),
        }
        for name, v in result.truth.island_scores.items()
    ]


def island_verdict(result: IslandResult) -> str:
    """Where the VAE stands against every baseline on the island-level scores (intervals decide)."""
    from islandvae.latent.measures import verdict

    rows = [
        {"features": name, "island ARI": tuple(v["ari"]), "island balanced accuracy": tuple(v["balanced accuracy"])}
        for name, v in result.truth.island_scores.items()
    ]
    return verdict(rows, "VAE", [("island ARI", True), ("island balanced accuracy", True)])


TYPE_DIGITS = {"cells / 10,000 px": 1, "cell diameter (px)": 2, "roundness": 2}  # decimals of the types table
MEASURE_DIGITS = {"recon MSE": 3}  # the tile-level table's decimals where they are not 2
LEARNED = ("recon MSE", "linear probe", "kNN", "island type")  # what the features hold (probes trained on labels)
STRUCTURE = ("k-means ARI", "k-means NMI", "silhouette", "brain probe")  # how the labels lie without training on them


def measures_rows(result: IslandResult) -> tuple[list[dict], list[dict]]:
    """The tile-level measures as two tables by question: what the features hold (reconstruction and the probes)
    and how the labels lie in each space without training (clusters, silhouette, the brain probe); each score a
    (value, low, high) tuple, None where a space has no such score."""
    rows = result.truth.measures

    def table(measures):
        return [{"features": r["features"], **{m: tuple(r[m]) if m in r else None for m in measures}} for r in rows]

    return table(LEARNED), table(STRUCTURE)


SCORED = [
    ("recon MSE", False),
    ("linear probe", True),
    ("kNN", True),
    ("island type", True),
    ("k-means ARI", True),
    ("k-means NMI", True),
    ("silhouette", True),
    ("brain probe", False),
]
# (name, True where higher is better)


def measures_verdict(result: IslandResult) -> str:
    """Which feature space wins the tile-level measures, counted over SCORED (intervals that overlap tie)."""
    from islandvae.latent.measures import verdict

    rows = [{k: tuple(v) if isinstance(v, list) else v for k, v in r.items()} for r in result.truth.measures]
    return verdict(rows, "VAE", SCORED) + " (For recon MSE and the brain probe, lower is better.)"


def evidence(margin: float) -> str:
    """The grade of evidence that a BIC difference of `margin` stands for on Kass and Raftery's (1995) scale."""
    return "weak" if margin < 2 else "positive" if margin < 6 else "strong" if margin < 10 else "very strong"
