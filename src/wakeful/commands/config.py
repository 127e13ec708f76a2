"""Options of a command from flags, `WAKEFUL_*` environment variables and a TOML file.

Precedence: a flag on the command line, then the environment variable named after the option
(`--admin-port` → `WAKEFUL_ADMIN_PORT`), then the TOML file given by `--config` (or
`WAKEFUL_CONFIG`), then the option's default. Any option added to a `ConfiguredCommand` gets its
environment variable and its TOML key without further code.
"""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from wakeful.server.durations import parse_duration_ms

__all__ = [
    "DURATION",
    "ENV_PREFIX",
    "ConfiguredCommand",
    "Duration",
    "env_name",
    "format_duration",
    "render_config",
]

ENV_PREFIX = "WAKEFUL_"

# Options about the configuration itself: they have no environment variable of their own
# (except `--config`, which has WAKEFUL_CONFIG) and no key in the file.
_META = frozenset({"config", "print_config", "help"})

_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


def env_name(param_name: str) -> str:
    """The environment variable of an option: `admin_port` → `WAKEFUL_ADMIN_PORT`."""
    return ENV_PREFIX + param_name.upper()


class Duration(click.ParamType[timedelta]):
    """A duration: `500ms`, `2s`, `1m`, `7d`, `1min 30s`, ISO 8601 `PT1M30S` / `P1D`, or bare
    seconds (`0`, `2.5`). The same grammar as the ingress's `?delay=`."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse `value` into a `timedelta`."""
        if isinstance(value, timedelta):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return timedelta(seconds=value)
        text = str(value).strip()
        if _NUMBER.match(text):
            return timedelta(seconds=float(text))
        try:
            return timedelta(milliseconds=parse_duration_ms(text))
        except ValueError:
            self.fail(
                f"not a duration: {value!r} (use e.g. 500ms, 2s, 1min, 1h, 7d, PT1M30S, P1D)",
                param,
                ctx,
            )


DURATION = Duration()


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling of a duration in the grammar above (`1500ms`, `1m`, `7d`)."""
    ms = round(value.total_seconds() * 1000)
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _load_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Eager callback of `--config`: read the TOML file into the command's default map."""
    if value is None:
        return None
    path = Path(value)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise click.BadParameter(f"cannot read {value}: {e.strerror}", ctx, param) from e
    except tomllib.TOMLDecodeError as e:
        raise click.BadParameter(f"{value} is not valid TOML: {e}", ctx, param) from e
    known: dict[str, str] = {}  # a key (flag or parameter name, with `_`) -> parameter name
    for p in ctx.command.params:
        if p.name and p.name not in _META:
            known[p.name] = p.name
            for opt in p.opts:
                if opt.startswith("--"):
                    known[opt[2:].replace("-", "_")] = p.name
    defaults: dict[str, Any] = {}
    for key, item in data.items():
        name = known.get(key.replace("-", "_"))
        if name is None:
            valid = ", ".join(sorted({_key(p) for p in ctx.command.params if p.name in known}))
            raise click.BadParameter(f"{value}: unknown key {key!r} (known: {valid})", ctx, param)
        defaults[name] = item
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


class ConfiguredCommand(click.Command):
    """A click command whose options also come from `WAKEFUL_<NAME>` and a `--config` TOML file.

    Example: `WAKEFUL_PORT=8081 wakeful serve --config wakeful.toml app.py`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.name and param.name not in _META and param.envvar is None:
                param.envvar = env_name(param.name)
                if isinstance(param, click.Option):
                    param.show_envvar = True
        self.params.append(
            click.Option(
                ["--config"],
                metavar="FILE",
                envvar=env_name("config"),
                show_envvar=True,
                is_eager=True,
                expose_value=False,
                callback=_load_file,
                help="A TOML file of options (keys named after the options, e.g. admin-port = "
                "9071); flags and environment variables take precedence over it.",
            )
        )


_SOURCES = {
    ParameterSource.COMMANDLINE: "flag",
    ParameterSource.ENVIRONMENT: "environment",
    ParameterSource.DEFAULT_MAP: "config file",
    ParameterSource.DEFAULT: "default",
}


def _toml_value(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, timedelta):
        value = format_duration(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _key(param: click.Parameter) -> str:
    """The TOML key of a parameter: its long flag without `--` (its name for an argument)."""
    for opt in param.opts:
        if opt.startswith("--"):
            return opt[2:]
    return (param.name or "").replace("_", "-")


def render_config(ctx: click.Context, values: dict[str, Any]) -> str:
    """The effective options as a TOML file (usable as `--config`), each with where it came
    from; secrets (tokens, link secrets) are shown only as set, commented out."""
    lines = []
    for param in ctx.command.params:
        name = param.name
        if not name or name in _META or name not in values or values[name] is None:
            continue
        source = _SOURCES.get(ctx.get_parameter_source(name) or ParameterSource.DEFAULT, "default")
        envvar = param.envvar if isinstance(param.envvar, str) else env_name(name)
        key = _key(param)
        if _is_secret(name):
            if values[name]:
                lines.append(f"# {key} = (set, not shown)  # {source}, {envvar}")
            continue
        lines.append(f"{key} = {_toml_value(values[name])}  # {source}, {envvar}")
    return "\n".join(lines)


def _is_secret(name: str) -> bool:
    return "token" in name or "secret" in name
