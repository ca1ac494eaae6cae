"""The report's one table style: cells, alignment and widths, and tables checked in the PDF they render to."""

import json

import pytest
from pdf_layout import margin_problems, project_margin_x, table_problems, table_size_factor

from islandvae.config import PROJECT_ROOT
from islandvae.report.render import markdown_pdf
from islandvae.tables import DASH, MINUS, NBSP, WORD_JOINER, cell_text, markdown_table

LONG = "orientation-pooled VAE"


def _markdown(rows, **kw) -> str:
    return markdown_table(rows, **kw).data


def test_a_score_is_one_unbreakable_cell_with_a_true_minus():
    assert cell_text((0.74, 0.56, 0.95), 2) == f"0.74{NBSP}(0.56{DASH}{WORD_JOINER}0.95)"
    assert cell_text((-0.02, -0.04, 0.01), 2) == f"{MINUS}0.02{NBSP}({MINUS}0.04{DASH}{WORD_JOINER}0.01)"
    assert cell_text((0.79, "tie"), 2) == f"0.79{NBSP}(tie)"
    assert cell_text(None, 2) == "-" and cell_text(12345, 2) == "12,345" and cell_text(3.14159, 3) == "3.142"


def test_labels_and_text_are_left_numbers_right_with_one_number_of_decimals_per_column():
    text = _markdown(
        [
            {"features": "VAE", "kind": "model", "ARI": (0.7, 0.5, 0.9), "n": 3, "x": 1.0},
            {"features": "PCA", "kind": "baseline", "ARI": None, "n": 12, "x": 2.25},
        ],
        digits={"x": 3},
    )
    _, rule, first, second = text.splitlines()
    assert [c.strip().startswith(":") for c in rule.strip("|").split("|")] == [True, True, False, False, False]
    assert "0.70" in first and "1.000" in first and "2.250" in second  # digits: x 3, the others 2
    assert "| - |" in second


def test_a_wide_table_shares_the_width_by_its_cells_a_narrow_one_fits_its_content():
    narrow = _markdown([{"a": "x", "b": 1.0}]).splitlines()[1]
    assert narrow == "|:--|--:|"  # every line within 72 characters: pandoc sizes the columns to their content
    wide = _markdown([{"features": LONG, **{f"m{k}": (0.81, 0.79, 0.84) for k in range(4)}, "n": 2}], digits=2)
    dashes = [len(c.strip(":")) for c in wide.splitlines()[1].strip("|").split("|")]
    assert dashes[0] > dashes[-1] and dashes[1] > dashes[-1] and len(set(dashes[1:5])) == 1


# In the PDF -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def factor():
    return table_size_factor(PROJECT_ROOT)


def _pdf(tmp_path, body, name="t.pdf"):
    return markdown_pdf(body, tmp_path / name)


def test_the_check_finds_a_table_whose_columns_break_words_and_wrap(tmp_path, factor):
    # A pipe table as the report wrote it before: equal dashes, so a long label gets a narrow column.
    rows = [f"| {LONG} accuracy statistics | 0.74 [0.56, 0.95] | 0.92 [0.86, 0.98] | 0.90 [0.84, 0.96] | 0.5 |"] * 2
    body = "| features | ARI | balanced accuracy | ceiling | x |\n|---:|---:|---:|---:|---:|\n" + "\n".join(rows)
    problems = table_problems(_pdf(tmp_path, body), factor)
    assert any("wraps" in p for p in problems), problems


def test_the_check_finds_cells_that_run_into_each_other_and_past_the_margin(tmp_path, factor):
    cell = cell_text((0.7412, 0.5634, 0.9518), 4)  # unbreakable: too many of them cannot wrap, they spill
    rows = "\n".join("| " + " | ".join([LONG] + [cell] * 9) + " |" for _ in range(2))
    body = "| features | " + " | ".join(f"m{k}" for k in range(9)) + " |\n|:--|" + "--:|" * 9 + "\n" + rows
    pdf = _pdf(tmp_path, body)
    assert table_problems(pdf, factor) or margin_problems(pdf, project_margin_x(PROJECT_ROOT))


def test_the_report_style_keeps_the_same_table_whole(tmp_path, factor):
    rows = [
        {
            "features": name,
            "types": 2,
            "ARI": (0.74, 0.56, 0.95),
            "balanced accuracy": (0.92, 0.86, 0.98),
            "ceiling": (0.90, 0.84, 0.96),
        }
        for name in (LONG, "autoencoder (150 steps)", "texture statistics")
    ]
    pdf = _pdf(tmp_path, _markdown(rows, digits=2))
    assert table_problems(pdf, factor) == []
    assert margin_problems(pdf, project_margin_x(PROJECT_ROOT)) == []


def test_the_widest_kept_result_tables_fit_the_page(tmp_path, factor):
    """The lever and robustness tables of results/ (the widest chapter 5 shows) as the chapter builds them."""
    from islandvae.islands import robustness_text
    from islandvae.islands.levers import lever_effects
    from islandvae.islands.sections import section_rows

    levers = json.loads((PROJECT_ROOT / "results" / "levers-default.json").read_text())
    robust = json.loads((PROJECT_ROOT / "results" / "robustness-default.json").read_text())
    effects = lever_effects(levers)
    tables = [
        [{k: r[k] for k in ("lever", "steps", "island ARI", "island balanced accuracy")} for r in effects],
        [{k: r[k] for k in ("lever", "island type", "brain probe", "recon MSE")} for r in effects],
        *robustness_text.table_rows(robust),
        section_rows(robust["sets"]),
        robustness_text.lever_rows(robust, levers),
    ]
    body = "\n\n".join(_markdown(t, digits=2) for t in tables)
    pdf = _pdf(tmp_path, body)
    assert table_problems(pdf, factor) == []
    assert margin_problems(pdf, project_margin_x(PROJECT_ROOT)) == []
