"""The README's code map matches the tree: every path it lists exists, and every module it
names in a folder's row is in that folder."""

import re

from analytics_assets_tests.support import ROOT

ROW = re.compile(r"^\| `([^`]+)` \| (.*) \|$")


def _code_map() -> dict[str, str]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("**Code map.**") :]
    rows: dict[str, str] = {}
    for line in section.splitlines()[4:]:
        match = ROW.match(line)
        if match is None:
            break
        rows[match.group(1)] = match.group(2)
    return rows


def test_every_path_of_the_code_map_exists():
    rows = _code_map()
    assert len(rows) >= 10
    missing = [path for path in rows if not (ROOT / path).exists()]
    assert missing == []


def test_every_module_a_row_names_is_in_its_folder():
    stale = {}
    for path, text in _code_map().items():
        folder = ROOT / path
        if not folder.is_dir():
            continue
        named = re.findall(r"`([\w/]+(?:\.py|/))`", text)
        gone = [name for name in named if not (folder / name).exists()]
        if gone:
            stale[path] = gone
    assert stale == {}
