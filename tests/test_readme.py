"""The README stays a true map: its configuration table, its layout of the code and
its "where things are" table match the code, and nothing in the repository
points to documents outside it."""

import ast
import importlib
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONFIG = ROOT / "config.py"
ENV_READERS = re.compile(r"env_\w+")
TABLE_NAME = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|")


def settings_read_by_config():
    """Every NAME of an `env_*("NAME", ...)` call in config.py."""
    names = set()
    for node in ast.walk(ast.parse(CONFIG.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and ENV_READERS.fullmatch(node.func.id)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def configuration_section(text):
    """The README's `## Configuration` section, up to the next `## ` heading."""
    match = re.search(r"^## Configuration\b.*?(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, "README.md has no '## Configuration' section"
    return match.group(0)


def settings_in_readme_tables():
    assert README.exists(), "README.md is missing"
    section = configuration_section(README.read_text())
    return {m.group(1) for line in section.splitlines() if (m := TABLE_NAME.match(line))}


def test_config_reads_the_settings_this_test_knows_how_to_find():
    # Guards the AST walk itself: a few settings the contract names.
    assert {"SECRET_KEY", "DATABASE_URL", "APP_ENV", "TRUSTED_PROXIES"} <= settings_read_by_config()


def test_every_setting_config_reads_is_in_the_readme_configuration_table():
    missing = settings_read_by_config() - settings_in_readme_tables()
    assert not missing, f"README.md's configuration table lacks: {', '.join(sorted(missing))}"


# --- the layout of the code ---------------------------------------------------

# Packages whose every module the layout lists (those present in the repository).
MAPPED_PACKAGES = ("authsvc", "testing", "bench")
LAYOUT_ENTRY = re.compile(r"^(?P<indent> *)(?P<name>[\w.-]+/?)(?:\s{2,}.*)?$")


def marked_block(text, name):
    """The text between `<!-- name:start -->` and `<!-- name:end -->`."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    assert start in text and end in text, f"README.md lacks the {start} ... {end} block"
    return text.split(start, 1)[1].split(end, 1)[0]


def layout_paths(block):
    """Paths of the layout block: two spaces of indent per directory level.

    A line names a file or a directory (ending in `/`) and, after two or
    more spaces, says what it holds; a line indented further than its name
    continues that description.
    """
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("```")]
    paths, parents, last_depth = [], [], -1
    for line in lines:
        match = LAYOUT_ENTRY.match(line)
        depth = (len(line) - len(line.lstrip(" "))) // 2
        if match is None or depth > last_depth + 1 or len(match["indent"]) % 2:
            continue  # a continuation of the description above
        name = match["name"]
        del parents[depth:]
        paths.append("/".join([*parents, name.rstrip("/")]))
        if name.endswith("/"):
            parents.append(name.rstrip("/"))
        last_depth = depth
    return paths


def listed_paths():
    return layout_paths(marked_block(README.read_text(), "layout"))


def modules_on_disk():
    """Every Python module of the mapped packages, as a path from the root."""
    modules = set()
    for package in MAPPED_PACKAGES:
        if (ROOT / package / "__init__.py").exists():
            modules.update(
                path.relative_to(ROOT).as_posix()
                for path in (ROOT / package).rglob("*.py")
                if "__pycache__" not in path.parts
            )
    return modules


def test_the_layout_parser_reads_nesting_and_descriptions():
    block = (
        "```\n"
        "config.py          settings\n"
        "pkg/\n"
        "  __init__.py      create_app\n"
        "  sub/             a package\n"
        "    leaf.py        what it holds,\n"
        "                   continued here\n"
        "  other.py\n"
        "tests/\n"
        "```\n"
    )
    assert layout_paths(block) == [
        "config.py",
        "pkg",
        "pkg/__init__.py",
        "pkg/sub",
        "pkg/sub/leaf.py",
        "pkg/other.py",
        "tests",
    ]


def test_every_module_is_in_the_readme_layout():
    missing = modules_on_disk() - set(listed_paths())
    assert not missing, (
        "README.md's layout (between <!-- layout:start --> and <!-- layout:end -->) "
        f"lacks these modules, one line each: {', '.join(sorted(missing))}"
    )


def test_everything_the_readme_layout_lists_exists_once():
    paths = listed_paths()
    assert "authsvc/__init__.py" in paths  # guards the parser
    absent = [path for path in paths if not (ROOT / path).exists()]
    assert not absent, f"README.md's layout lists what does not exist: {', '.join(absent)}"
    repeated = sorted({path for path in paths if paths.count(path) > 1})
    assert not repeated, f"README.md's layout lists these twice: {', '.join(repeated)}"


# --- where things are --------------------------------------------------------

WHERE_ENTRY = re.compile(r"`([A-Za-z_]\w*(?:\.\w+)*):([A-Za-z_]\w*(?:\.\w+)*)`")
# Behaviours a newcomer looks for first; each needs a row (matched in lower case).
WHERE_BEHAVIOURS = (
    "reuse detection",
    "revocation check",
    "rate limit",
    "problem",
    "pre-hash",
    "audit",
    "live session",
)


def where_rows():
    """(behaviour, [module:attribute, ...]) for each row of the table."""
    rows = []
    for line in marked_block(README.read_text(), "where").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 2 and not set(cells[0]) <= set("-: "):
            rows.append((cells[0], WHERE_ENTRY.findall(" ".join(cells[1:]))))
    return rows[1:]  # the header row


def test_where_things_are_has_the_behaviours_newcomers_look_for():
    behaviours = " ".join(behaviour.lower() for behaviour, _ in where_rows())
    missing = [name for name in WHERE_BEHAVIOURS if name not in behaviours]
    assert not missing, f"README.md's 'where things are' table lacks: {', '.join(missing)}"


def test_every_row_of_where_things_are_names_module_and_function():
    rows = where_rows()
    assert len(rows) >= len(WHERE_BEHAVIOURS)
    bare = [behaviour for behaviour, entries in rows if not entries]
    assert not bare, f"rows without a `module:function`: {bare}"


def resolves(module_name, attribute):
    """Whether `module_name:attribute` imports, dotted attributes included."""
    try:
        target = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if not module_name.startswith(error.name or "\0"):
            raise  # the module exists but needs something missing: say so
        return False
    for name in attribute.split("."):
        if not hasattr(target, name):
            return False
        target = getattr(target, name)
    return True


def test_the_resolver_refuses_what_does_not_exist():
    assert resolves("authsvc", "create_app")
    assert not resolves("authsvc", "no_such_function")
    assert not resolves("authsvc.no_such_module", "create_app")


def test_every_module_function_in_where_things_are_resolves():
    entries = {entry for _, entries in where_rows() for entry in entries}
    unresolved = sorted(f"{mod}:{name}" for mod, name in entries if not resolves(mod, name))
    assert not unresolved, f"'where things are' names what does not exist: {unresolved}"


# --- nothing points outside the repository ----------------------------------

# Written in pieces, so this file does not name them itself.
OUTSIDE_REFERENCES = ("../" + "shared", "DESIGN" + ".md", "STYLE" + ".md", "/" + "work/")


def tracked_files():
    """The names `git ls-files` gives (what a clone of the repository holds)."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [name for name in listing.decode().split("\0") if name]


def outside_references(root, names):
    """(name, reference) for every text file under `root` naming a document outside it."""
    found = []
    for name in names:
        try:
            content = (root / name).read_bytes()
        except (FileNotFoundError, IsADirectoryError):  # deleted, not yet committed
            continue
        if b"\0" in content:
            continue  # binary
        text = content.decode("utf-8", errors="replace").lower()
        found.extend((name, ref) for ref in OUTSIDE_REFERENCES if ref.lower() in text)
    return found


def test_the_outside_reference_scan_finds_what_it_looks_for(tmp_path):
    # The same scan on two files of a made-up repository: one names the
    # documents, the other only talks about design and style.
    (tmp_path / "leak.py").write_text("# the contract: ../" + "shared/" + "design" + ".md\n")
    (tmp_path / "clean.md").write_text("Design and style live in docs/API.md.\n")
    assert outside_references(tmp_path, ["leak.py", "clean.md"]) == [
        ("leak.py", "../" + "shared"),
        ("leak.py", "DESIGN" + ".md"),
    ]


def test_nothing_in_the_repository_refers_to_documents_outside_it():
    names = tracked_files()
    assert "README.md" in names
    found = outside_references(ROOT, names)
    assert not found, f"references to documents outside the repository: {found}"
