"""The README's configuration table keeps in step with the settings config.py reads."""

import ast
import re

from testing.live_server import ROOT

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
