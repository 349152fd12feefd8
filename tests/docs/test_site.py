"""The documentation site's sources: every page in the nav, the generated CLI reference complete,
the home page's quick start the README's. (`.ci/run` builds the site with `mkdocs build --strict`.)
"""

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = re.compile(r"<!-- quickstart -->\n(.*?)<!-- /quickstart -->", re.S)


def _hooks():
    spec = importlib.util.spec_from_file_location("kerasdl_docs_hooks", REPO / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nav_pages():
    text = (REPO / "mkdocs.yml").read_text()
    nav = text[text.index("\nnav:") :]
    return re.findall(r"^\s+- (?:[^:\n]+: )?([\w/.-]+\.md)\s*$", nav, flags=re.M)


def test_every_page_is_in_the_nav_once():
    nav = _nav_pages()
    assert len(nav) == len(set(nav)), f"a page twice in the nav: {nav}"
    pages = {p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").rglob("*.md")}
    generated = {_hooks().CLI_REFERENCE_URI}
    assert set(nav) == pages | generated, (
        f"not in the nav: {sorted(pages - set(nav))}; missing pages: {sorted(set(nav) - pages)}"
    )


def test_api_pages_name_existing_modules():
    for page in (REPO / "docs" / "reference").glob("*.md"):
        for target in re.findall(r"^::: ([\w.]+)", page.read_text(), flags=re.M):
            assert importlib.util.find_spec(target) is not None, f"{page.name}: {target}"


def test_the_cli_reference_has_every_command_and_option():
    hooks = _hooks()
    markdown = hooks.cli_reference_markdown()
    commands = list(hooks.iter_cli_commands())
    paths = [path for path, _command, _ctx in commands]
    for expected in ("kerasdl", "kerasdl train", "kerasdl runs compare", "kerasdl data info"):
        assert expected in paths
    for path, command, ctx in commands:
        assert f"`{path}`" in markdown, path
        for param in command.params:
            record = param.get_help_record(ctx)
            if record is not None and not getattr(param, "hidden", False):
                assert f"`{hooks._cell(record[0])}`" in markdown, f"{path}: {record[0]}"
    assert "--weight-decay X" in markdown and "Usage: kerasdl train [OPTIONS]" in markdown


def test_the_home_page_quick_start_is_the_readmes():
    readme = QUICKSTART.search((REPO / "README.md").read_text()).group(1)
    index = QUICKSTART.search((REPO / "docs" / "index.md").read_text()).group(1)
    assert index == readme


def test_no_link_leaves_the_docs_folder():
    # mkdocs --strict fails on them; a page links inside docs/ or to a web address.
    generated = REPO / "docs" / _hooks().CLI_REFERENCE_URI
    for page in (REPO / "docs").rglob("*.md"):
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if not re.match(r"^[a-z]+:", target):
                resolved = (page.parent / target).resolve()
                assert resolved.is_relative_to(REPO / "docs"), f"{page.name}: {target}"
                assert resolved.exists() or resolved == generated, f"{page.name}: {target}"
