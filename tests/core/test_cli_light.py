"""The light commands: help, version, list-plugins, validate, dry runs; none of them imports torch."""

from __future__ import annotations

import json
import subprocess
import sys

from dlrmbench import __version__
from tests.conftest import REPO, TINY_DEFAULTS, cli_env, run_cli


def test_help_and_version():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("run", "validate", "list-plugins", "compare"):
        assert command in result.stdout
    for command in ("run", "validate", "list-plugins", "compare"):
        sub = run_cli(command, "--help")
        assert sub.returncode == 0 and "Usage: dlrmbench " + command in sub.stdout
    version = run_cli("--version")
    assert version.returncode == 0 and __version__ in version.stdout


def test_light_commands_do_not_import_torch(write_suite):
    suite = write_suite("name: s\n" + TINY_DEFAULTS + "cases:\n  - name: a\n")
    code = (
        "import sys\n"
        "from dlrmbench.cli import main\n"
        f"for args in (['--help'], ['list-plugins'], ['validate', {str(suite)!r}], ['run', {str(suite)!r}, '--dry-run']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('torch', 'pandas', 'pyspark') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=cli_env())
    assert result.returncode == 0, result.stderr


def test_list_plugins_json_shows_builtins_and_availability():
    result = run_cli("list-plugins", "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    names = {(p["kind"], p["name"]) for p in data["plugins"]}
    assert {("backend", "eager"), ("embedding", "joint"), ("embedding", "multi_table"), ("dataset", "synthetic")} <= names
    eager = next(p for p in data["plugins"] if p["name"] == "eager")
    assert eager["available"] is True and eager["reason"] is None
    assert eager["source"].startswith("dlrmbench ")


def test_list_plugins_options_schema():
    result = run_cli("list-plugins", "--options", "synthetic", "--json")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert "train_samples" in schema["properties"] and schema["additionalProperties"] is False
    table = run_cli("list-plugins", "--options", "synthetic")
    assert "train_samples" in table.stdout
    unknown = run_cli("list-plugins", "--options", "synthetc")
    assert unknown.returncode == 2 and 'did you mean "synthetic"' in unknown.stderr


def test_third_party_plugin_is_listed_and_broken_plugin_reported(plugin_site):
    env = cli_env(plugin_site)
    result = run_cli("list-plugins", "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    flaky = next(p for p in data["plugins"] if p["name"] == "flaky")
    assert flaky["source"] == "dlrmbench-testkit 0.0.1" and flaky["available"]
    broken = data["broken"]
    assert broken and broken[0]["name"] == "brokenkit"
    assert "ImportError: brokenkit needs a library that is not installed" in broken[0]["error"]
    table = run_cli("list-plugins", env=env)
    assert "broken" in table.stdout and "brokenkit" in table.stdout
    assert run_cli("--help", env=env).returncode == 0


def test_validate_reports_each_file(write_suite, tmp_path):
    good = write_suite("name: good\n" + TINY_DEFAULTS + "cases:\n  - name: a\n", "good.yaml")
    bad = write_suite("name: bad\n" + TINY_DEFAULTS + "cases:\n  - name: a\n    batch_size: 0\n", "bad.yaml")
    result = run_cli("validate", str(good), str(bad))
    assert result.returncode == 2
    assert "✓" in result.stdout and "good" in result.stdout
    assert "cases[0].batch_size" in result.stderr
    assert "Traceback" not in result.stderr
    assert run_cli("validate", str(good)).returncode == 0
    missing = run_cli("validate", str(tmp_path / "missing.yaml"))
    assert missing.returncode == 2 and "no such suite file" in missing.stderr


def test_every_committed_suite_validates():
    suites = sorted(str(p) for p in (REPO / "suites").glob("*.yaml"))
    assert suites
    result = run_cli("validate", *suites)
    assert result.returncode == 0, result.stderr


def test_dry_run_plans_and_explains_skips(write_suite, tmp_path):
    suite = write_suite("name: s\n" + TINY_DEFAULTS + """
cases:
  - name: cpu-ok
  - name: on-gpu
    device: cuda
  - name: amp-on-cpu
    precision: amp
""")
    out = tmp_path / "results"
    result = run_cli("run", str(suite), "--dry-run", "-o", str(out), env=cli_env(COLUMNS="200"))
    assert result.returncode == 0, result.stderr
    assert "cpu-ok" in result.stdout and "run" in result.stdout
    assert "needs a CUDA GPU" in result.stdout
    assert "precision amp needs a CUDA GPU" in result.stdout
    assert "1 of 3 case(s) would run" in result.stdout
    assert not out.exists()


def test_bad_suite_writes_nothing_and_exits_2(write_suite, tmp_path):
    suite = write_suite("name: s\n" + TINY_DEFAULTS + "cases:\n  - name: a\n    embedding: jiont\n")
    out = tmp_path / "results"
    result = run_cli("run", str(suite), "-o", str(out))
    assert result.returncode == 2
    assert "unknown embedding 'jiont' (did you mean \"joint\"?)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_only_with_no_match_is_an_error(write_suite, tmp_path):
    suite = write_suite("name: s\n" + TINY_DEFAULTS + "cases:\n  - name: a\n")
    result = run_cli("run", str(suite), "--only", "zzz", "--dry-run")
    assert result.returncode == 2 and "no case of" in result.stderr and "cases are: a" in result.stderr


def test_bad_cli_options_are_refused():
    result = run_cli("run", "suites/quickstart.yaml", "--repeat", "0")
    assert result.returncode == 2 and "--repeat" in result.stderr
    result = run_cli("compare", "results", "--format", "xml")
    assert result.returncode == 2 and "'xml' is not one of" in result.stderr
