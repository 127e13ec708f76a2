"""`wakeful serve` options from flags, WAKEFUL_* variables and a TOML file, and the one duration
grammar of the CLI and the ingress."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner
from tests.ops.apps_ops import APP, TRACES_ENV
from tests.support.server import free_port

from wakeful.cli import main
from wakeful.commands.config import DURATION, ConfiguredCommand, format_duration


def _print_config(args: list[str], env: dict[str, str] | None = None) -> dict[str, str]:
    """`wakeful serve --print-config`'s answer as {key: "value  # source, VAR"}."""
    result = CliRunner().invoke(main, ["serve", "--print-config", *args], env=env)
    assert result.exit_code == 0, result.output
    return dict(line.split(" = ", 1) for line in result.output.splitlines())


def test_flag_beats_environment_beats_file_beats_default(tmp_path: Path) -> None:
    """Each option takes the first of: flag, WAKEFUL_<NAME>, the --config file, the default."""
    config = tmp_path / "wakeful.toml"
    config.write_text('port = 1111\nadmin-port = 2222\nhost = "0.0.0.0"\napp = "a.py:app"\n')
    env = {"WAKEFUL_PORT": "3333", "WAKEFUL_ADMIN_PORT": "4444"}
    got = _print_config(["--config", str(config), "--port", "5555"], env)
    assert got["port"] == "5555  # flag, WAKEFUL_PORT"
    assert got["admin-port"] == "4444  # environment, WAKEFUL_ADMIN_PORT"
    assert got["host"] == '"0.0.0.0"  # config file, WAKEFUL_HOST'
    assert got["app"] == '"a.py:app"  # config file, WAKEFUL_APP'
    assert got["data-dir"] == '".wakeful"  # default, WAKEFUL_DATA_DIR'


def test_config_file_from_environment_and_durations_in_every_spelling(tmp_path: Path) -> None:
    """WAKEFUL_CONFIG names the file; durations read as ISO 8601, humantime or unit suffixes."""
    config = tmp_path / "w.toml"
    config.write_text('inactivity_timeout = "PT1M30S"\nretention = "P7D"\n')
    env = {"WAKEFUL_CONFIG": str(config), "WAKEFUL_RETRY_MAX_INTERVAL": "1min 30s"}
    got = _print_config(["x.py"], env)
    assert got["inactivity-timeout"].startswith('"90s"  # config file')
    assert got["retention"].startswith('"7d"  # config file')
    assert got["retry-max-interval"].startswith('"90s"  # environment')


def test_printed_config_is_a_valid_config_file(tmp_path: Path) -> None:
    """The output of --print-config, saved, gives the same effective options back."""
    first = CliRunner().invoke(main, ["serve", "--print-config", "--port", "8181", "x.py:app"])
    saved = tmp_path / "saved.toml"
    saved.write_text(first.output)
    again = _print_config(["--config", str(saved)])
    assert again["port"] == "8181  # config file, WAKEFUL_PORT"
    assert again["app"] == '"x.py:app"  # config file, WAKEFUL_APP'


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("bogus = 1\n", "unknown key 'bogus'"),
        ("port = [\n", "is not valid TOML"),
        ('inactivity-timeout = "soon"\n', "not a duration: 'soon'"),
        ('port = "eighty"\n', "'eighty' is not a valid integer"),
    ],
)
def test_bad_config_file_is_refused_naming_the_problem(
    tmp_path: Path, content: str, error: str
) -> None:
    """An unknown key, bad TOML or a bad value stops `serve` with a message naming it."""
    config = tmp_path / "bad.toml"
    config.write_text(content)
    result = CliRunner().invoke(main, ["serve", "--config", str(config), "x.py"])
    assert result.exit_code == 2
    assert error in result.output


def test_missing_config_file_is_refused() -> None:
    """A --config path that does not exist is an error, not an empty configuration."""
    result = CliRunner().invoke(main, ["serve", "--config", "/nonexistent/w.toml", "x.py"])
    assert result.exit_code == 2
    assert "cannot read /nonexistent/w.toml" in result.output


def test_options_added_later_get_env_and_file_for_free(tmp_path: Path) -> None:
    """Any option of a ConfiguredCommand reads WAKEFUL_<NAME> and a TOML key named after its
    flag (also when the flag and the parameter are named differently) without code of its
    own; an explicit envvar is kept."""
    seen: dict[str, object] = {}

    @click.command(cls=ConfiguredCommand)
    @click.option("--shiny-new", default="x")
    @click.option("--secret", "secrets", multiple=True, envvar="MY_SECRET")
    def cmd(shiny_new: str, secrets: tuple[str, ...]) -> None:
        seen["value"], seen["secrets"] = shiny_new, secrets

    result = CliRunner().invoke(cmd, [], env={"WAKEFUL_SHINY_NEW": "from-env"})
    assert result.exit_code == 0, result.output
    assert seen["value"] == "from-env"
    config = tmp_path / "c.toml"
    config.write_text('secret = ["a", "b"]\n')
    result = CliRunner().invoke(cmd, ["--config", str(config)])
    assert result.exit_code == 0, result.output
    assert seen["secrets"] == ("a", "b")
    result = CliRunner().invoke(cmd, [], env={"MY_SECRET": "c d"})
    assert seen["secrets"] == ("c", "d")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("2.5", timedelta(seconds=2.5)),
        ("500ms", timedelta(milliseconds=500)),
        ("2s", timedelta(seconds=2)),
        ("1m", timedelta(minutes=1)),
        ("1min", timedelta(minutes=1)),
        ("1h 30m", timedelta(minutes=90)),
        ("7d", timedelta(days=7)),
        ("P1D", timedelta(days=1)),
        ("PT1M30S", timedelta(seconds=90)),
    ],
)
def test_duration_grammar(text: str, expected: timedelta) -> None:
    """The CLI reads every spelling the ingress's ?delay= reads, plus bare seconds."""
    assert DURATION.convert(text, None, None) == expected


@pytest.mark.parametrize("text", ["", "soon", "5q", "-1s", "P"])
def test_duration_grammar_refuses_nonsense(text: str) -> None:
    """Anything else is a usage error naming the value."""
    with pytest.raises(click.BadParameter, match="not a duration"):
        DURATION.convert(text, None, None)


def test_durations_print_in_their_shortest_exact_form() -> None:
    """--print-config writes durations the grammar reads back unchanged."""
    for value in (
        timedelta(0),
        timedelta(milliseconds=1500),
        timedelta(days=3),
        timedelta(hours=2),
    ):
        assert DURATION.convert(format_duration(value), None, None) == value


def test_server_configured_by_environment_and_file_only(tmp_path: Path) -> None:
    """`python -m wakeful serve` with no flags listens where WAKEFUL_* and the file say."""
    port, admin_port = free_port(), free_port()
    config = tmp_path / "wakeful.toml"
    config.write_text(
        f'app = "{APP}"\nadmin-port = {admin_port}\ndata-dir = "{tmp_path / "data"}"\n'
        'inactivity-timeout = "0"\n'
    )
    env = {"WAKEFUL_PORT": str(port), "WAKEFUL_CONFIG": str(config), TRACES_ENV: str(tmp_path)}
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "wakeful", "serve"],
        env={**_base_env(), **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/restate/health", process)
        answer = httpx.post(f"http://127.0.0.1:{port}/Counter/a/add", json=2, timeout=10)
        assert answer.json() == 2
        health = httpx.get(f"http://127.0.0.1:{admin_port}/health", timeout=5)
        assert health.status_code == 200
        assert (tmp_path / "data" / "wakeful.sqlite").exists()
    finally:
        process.terminate()
        process.wait(15)
        log.close()


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("WAKEFUL_")}


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer in {timeout}s")


def test_shipped_config_file_is_valid() -> None:
    """deploy/wakeful.toml, which the systemd unit reads, holds only known keys and values."""
    shipped = Path(__file__).parents[2] / "deploy" / "wakeful.toml"
    got = _print_config(["--config", str(shipped)])
    assert got["app"].endswith("# config file, WAKEFUL_APP")
    assert got["log-format"].startswith('"json"  # config file')


def test_printed_config_hides_secrets() -> None:
    """Tokens and link secrets show as set, never their values."""
    env = {"WAKEFUL_ADMIN_TOKEN": "s3cr3t-admin", "WAKEFUL_LINK_SECRET": "k1 k2"}
    result = CliRunner().invoke(main, ["serve", "--print-config", "x.py"], env=env)
    assert result.exit_code == 0, result.output
    assert "s3cr3t-admin" not in result.output
    assert "k1" not in result.output
    assert "# admin-token = (set, not shown)  # environment, WAKEFUL_ADMIN_TOKEN" in result.output
