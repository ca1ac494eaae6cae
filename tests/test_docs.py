"""The README starts a user in one screen; docs/ holds the rest, and every link between them resolves."""

import re

import pytest

from islandvae.config import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
LONGEST_README = 150  # lines
DOCS = sorted((PROJECT_ROOT / "docs").glob("*.md"))


def test_the_readme_starts_with_the_two_commands_and_fits_its_length():
    text = README.read_text()
    first = text.split("```")[1]
    assert "make report" in first and "make test" in first
    assert len(text.splitlines()) <= LONGEST_README


def test_the_readme_holds_no_history():
    text = README.read_text()
    assert not re.findall(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b", text), "commit hashes"
    assert not re.findall(r"\bissue \d+", text, flags=re.I), "issue numbers"
    assert "../shared" not in text  # nothing outside the repository


@pytest.mark.parametrize("page", [README, *DOCS, PROJECT_ROOT / "CHANGELOG.md"], ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text())
    missing = [link for link in links if not (page.parent / link).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"


def test_the_docs_hold_the_pages_the_readme_points_to():
    names = {p.name for p in DOCS}
    assert {"performance.md", "gpu.md", "rendering.md", "stand-in.md", "method.md", "architecture.md"} <= names
