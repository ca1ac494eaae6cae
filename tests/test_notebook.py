"""notebooks/colab.ipynb runs end to end (CPU, no drive) on tiny data, so the Colab path cannot rot."""

import json

import pytest
from conftest import QUICK_TRAINING, write_config

from islandvae.config import PROJECT_ROOT
from islandvae.data.synth import generate

NOTEBOOK = PROJECT_ROOT / "notebooks" / "colab.ipynb"


@pytest.mark.slow
def test_the_colab_notebook_runs_every_step_on_tiny_data(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    data = generate(tmp_path / "tiny.h5", preset="tiny", progress=False)
    config = write_config(tmp_path, data, data_extra='synthetic = "tiny"', extra=QUICK_TRAINING)
    monkeypatch.setenv("ISLANDVAE_NOTEBOOK_CONFIG", str(config))
    monkeypatch.setenv("ISLANDVAE_NOTEBOOK_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("ISLANDVAE_NOTEBOOK_HANDIN", str(tmp_path / "handin"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(PROJECT_ROOT)}},
        record_timing=False,
    ).execute()
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "PFLOP" in printed  # the budget, printed before training
    assert (tmp_path / "out" / "report.pdf").is_file() and (tmp_path / "out" / "summary.pdf").is_file()
    zips = list((tmp_path / "handin").glob("project01_*.zip"))
    assert len(zips) == 1 and f"hand-in zip: {zips[0]}" in printed


def test_the_notebook_keeps_colab_steps_behind_a_check_and_holds_no_outputs():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [("".join(c["source"]), c.get("outputs", [])) for c in cells if c["cell_type"] == "code"]
    assert all(not outputs for _, outputs in code)  # committed clean: outputs belong to a run, not to git
    for source, _ in code:
        if "google.colab" in source and "IN_COLAB =" not in source:
            assert "if IN_COLAB" in source
