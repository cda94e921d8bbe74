"""The README and docs/ pages link to each other and to source files; a moved or renamed file must not
leave a dead relative link behind."""
import glob
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _relative_links(path):
    """Link targets of a markdown file that point into the repository, without their #anchor."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return [t.split("#", 1)[0] for t in LINK.findall(text) if not re.match(r"^[a-z]+:|^#", t)]


def test_relative_links_resolve():
    pages = [os.path.join(REPO, "README.md")] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
    assert len(pages) >= 3  # README plus the docs pages it points to
    dead = []
    for page in pages:
        for target in _relative_links(page):
            if not os.path.exists(os.path.join(os.path.dirname(page), target)):
                dead.append(f"{os.path.relpath(page, REPO)} -> {target}")
    assert not dead, dead


def test_readme_points_to_every_docs_page():
    linked = set(_relative_links(os.path.join(REPO, "README.md")))
    for page in glob.glob(os.path.join(REPO, "docs", "*.md")):
        assert os.path.relpath(page, REPO) in linked, page

