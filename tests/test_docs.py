"""The front page and the manual: what a newcomer reads first, and whether the manual builds and is complete."""

import argparse
import importlib
import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def manual_text():
    return "\n".join(page.read_text(encoding="utf-8") for page in sorted(DOCS.glob("*.md")))


def test_the_readme_is_a_front_page_that_starts_with_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) <= 10 * 1024
    first = [line.split("#")[0].strip() for line in text.splitlines()[:2]]
    assert first == ["./run demo", "./run test"]


def test_every_link_of_the_readme_reaches_a_page_of_the_manual():
    links = [target for target in LINK.findall(README.read_text(encoding="utf-8")) if "://" not in target]
    assert links
    for target in links:
        path = (ROOT / target.split("#")[0]).resolve()
        assert path.is_file(), target
        assert path.parent == DOCS, target
    linked = {(ROOT / target.split("#")[0]).resolve().name for target in links}
    assert linked == {page.name for page in DOCS.glob("*.md")}, "a manual page the front page does not name"


def long_options(parser, path=()):
    """(command path, option) for every long option and subcommand of an argparse parser, recursively."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield path, name
                yield from long_options(sub, (*path, name))
        else:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    yield path, option


@pytest.mark.parametrize("module", ["aau_stats.cli", "anaconda_anon_usage.main", "anaconda_anon_usage.heartbeat"])
def test_the_manual_names_every_command_and_option(module):
    parser = importlib.import_module(module).build_parser()
    text = manual_text()
    missing = sorted({"%s %s" % (" ".join(path), name) for path, name in long_options(parser)
                      if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(name), text)})
    assert missing == [], "not in docs/: %s" % ", ".join(missing)


def test_the_manual_builds_without_warnings(tmp_path):
    if importlib.util.find_spec("sphinx") is None or importlib.util.find_spec("myst_parser") is None:
        pytest.skip("Sphinx and myst-parser are not installed (requirements/docs.txt)")
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
                           str(DOCS), str(tmp_path / "html")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "html" / "index.html").is_file()
    built = {page.stem for page in (tmp_path / "html").glob("*.html")}
    assert {page.stem for page in DOCS.glob("*.md")} <= built
