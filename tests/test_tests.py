"""The suite's own layout (tests/conftest.py states it): each test module is named
for what it tests, and helpers come from one place."""

import ast

from testing.live_server import ROOT

TESTS = ROOT / "tests"
FREE_DIRECTORIES = {"security", "system"}  # cross-cutting: named for the property
MIRROR_DIRECTORIES = {"harness": ROOT / "testing"}  # named for a module of testing/


def module_names(package, prefix=""):
    """{name: is a file}: `a` for package/a.py or package/a/, `a_b` for package/a/b.py."""
    names = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package).with_suffix("").parts
        is_file = parts[-1] != "__init__"
        parts = parts if is_file else parts[:-1]
        if parts:
            names[prefix + "_".join(parts)] = is_file
    return names


def top_level_parts():
    """`readme` for README.md, `config` for config.py, `bench` for bench/, ..."""
    return {
        path.name.split(".")[0].lower().replace("-", "_"): True
        for path in ROOT.iterdir()
        if not path.name.startswith(".")
    }


def named_for_one_of(stem, names):
    """`test_<name>`, or `test_<name>_<aspect>` for one module's tests split by aspect."""
    name = stem.removeprefix("test_")
    return name in names or any(
        name.startswith(f"{known}_") for known, is_file in names.items() if is_file
    )


def modules_in(directory):
    return sorted(directory.glob("test_*.py"))


def imported_modules(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_the_namers_know_the_modules_they_name():
    # Guards the walks themselves: a few names each must find.
    authsvc = module_names(ROOT / "authsvc")
    assert {"sessions", "api_auth", "mail_backends", "models", "api"} <= set(authsvc)
    assert authsvc["sessions"] and not authsvc["api"]
    assert {"readme", "config", "migrations", "bench", "tests"} <= set(top_level_parts())
    assert {"markers", "live_server", "load"} <= set(module_names(ROOT / "testing"))
    assert named_for_one_of("test_mfa_states", authsvc)  # mfa.py's tests, split
    assert not named_for_one_of("test_api_nothing", authsvc)  # api/ is a package
    assert not named_for_one_of("test_web", authsvc)


def test_every_test_module_is_named_for_what_it_tests():
    allowed = {
        "app": False,
        **module_names(ROOT / "authsvc"),
        **top_level_parts(),
        **module_names(ROOT / "examples", prefix="examples_"),
        **module_names(ROOT / "bench", prefix="bench_"),
    }
    strays = [path.name for path in modules_in(TESTS) if not named_for_one_of(path.stem, allowed)]
    for name, package in MIRROR_DIRECTORIES.items():
        mirrored = module_names(package)
        strays += [
            f"{name}/{path.name}"
            for path in modules_in(TESTS / name)
            if not named_for_one_of(path.stem, mirrored)
        ]
    assert not strays, f"test modules named for nothing that exists: {strays}"


def test_tests_has_no_other_directories():
    directories = {
        path.name for path in TESTS.iterdir() if path.is_dir() and path.name != "__pycache__"
    }
    assert directories == FREE_DIRECTORIES | set(MIRROR_DIRECTORIES)


def test_no_test_module_imports_another():
    """Shared helpers live in tests/helpers.py; fixtures reach tests through conftest."""
    offenders = {
        f"{path.relative_to(ROOT)} imports {module}"
        for path in TESTS.rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] == "tests" and module != "tests.helpers"
    }
    assert not offenders, sorted(offenders)


def test_the_harness_imports_neither_tests_nor_bench():
    offenders = {
        f"{path.relative_to(ROOT)} imports {module}"
        for path in (ROOT / "testing").rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in {"tests", "bench"}
    }
    assert not offenders, sorted(offenders)
