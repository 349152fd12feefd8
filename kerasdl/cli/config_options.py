"""Typer options made from the config's field declarations (`kerasdl.config.field_specs`).

A config field is declared once, in `kerasdl.config`; a command that offers fields as options
says which, and `config_options` adds one Typer option per field to it: the name and panel of
the field's `Flag` (or ``--<name>``), its help text followed by what it allows, and a type Typer
parses. The command gets the values given as ``config_values`` (dotted key -> value, options
left out at None), ready for `kerasdl.config.TrainConfig.override`. ``kerasdl train``,
``kerasdl lr-find`` and ``kerasdl schedule plot`` use it, so their help cannot drift from the
config's own validation.

This module imports Typer and `kerasdl.config` (standard library only), nothing heavier.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from dataclasses import dataclass
from typing import Annotated

import typer

from kerasdl._fields import OneOf
from kerasdl.config import PANELS, FieldSpec, field_specs

__all__ = ["FLAG_PANEL", "Offered", "config_options", "flagged", "option_help", "plain"]


def plain(doc: str) -> str:
    """Markdown of a field's ``doc`` as terminal text: ``[data.md](data.md)`` -> ``data.md``,
    no backticks."""
    return re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", doc).replace("`", "")


def option_help(spec: FieldSpec) -> str:
    """``"Epochs to train: an integer in [1, 1,000,000]."``: the field's help and what it allows.

    Names are listed bare (``"Optimizer: sgd, momentum, ..."``); a switch says nothing more
    (``--x/--no-x`` is what it allows). The docs table (`kerasdl._reference`) adds each field's
    longer ``doc``.
    """
    text = spec.help[0].upper() + spec.help[1:]
    if spec.flag is not None and spec.flag.switch:
        return f"{text}."
    rule = spec.rule
    if isinstance(rule, OneOf):
        allowed = ", ".join(str(name) for name in rule.names)
    else:
        allowed = rule.allowed() if rule is not None else spec.allowed()
    return f"{text}: {allowed}."


#: `Offered.panel`'s default: the panel its `Flag` names.
FLAG_PANEL = "<flag>"


@dataclass(frozen=True)
class Offered:
    """A field offered as an option of one command.

    Attributes:
        spec: The field.
        option: The option's name (default: its `Flag`'s, else ``--<name-with-dashes>``).
        panel: The help panel; `FLAG_PANEL` (the default): its `Flag`'s; None: the command's
            main panel.
        default: The option's default (None: "as the config says", not shown).
        help: A help text other than `option_help` (e.g. a command's own default).
        required: Whether the option must be given.
    """

    spec: FieldSpec
    option: str | None = None
    panel: str | None = FLAG_PANEL
    default: object = None
    help: str | None = None
    required: bool = False

    @property
    def name(self) -> str:
        if self.option is not None:
            return self.option
        if self.spec.flag is not None:
            return self.spec.flag.option
        return "--" + self.spec.name.replace("_", "-")

    @property
    def param(self) -> str:
        return self.name.lstrip("-").replace("-", "_")


def flagged(keys: typing.Iterable[str] | None = None) -> list[Offered]:
    """The fields that declare a ``kerasdl train`` `Flag` (only ``keys`` if given), in panel
    order, then declaration order."""
    specs = [s for s in field_specs() if s.flag is not None]
    if keys is not None:
        wanted = set(keys)
        unknown = wanted - {s.key for s in specs}
        if unknown:  # pragma: no cover - a programming error, caught by the tests
            raise ValueError(f"no Flag declared for {sorted(unknown)}")
        specs = [s for s in specs if s.key in wanted]
    specs.sort(key=lambda s: PANELS.index(s.flag.panel))
    return [Offered(s) for s in specs]


def _option_type(spec: FieldSpec, switch: bool, optional: bool):
    hint = spec.hint
    if switch:
        base = bool
    elif typing.get_origin(hint) is list:
        base = str  # "256,128": TrainConfig.override parses it
    else:
        args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
        base = args[0] if len(args) == 1 else str
    return base | None if optional else base


def _parameter(offered: Offered) -> inspect.Parameter:
    spec, flag = offered.spec, offered.spec.flag
    switch = flag is not None and flag.switch and offered.option is None
    decls = [f"{offered.name}/--no-{offered.name[2:]}"] if switch else [offered.name]
    if offered.name == "--" + offered.param:  # let Typer name it from the parameter
        decls = decls if switch else []
    metavar = None if switch else (flag.metavar if flag is not None else None)
    shown = offered.default is not None
    info = typer.Option(
        *decls,
        help=offered.help or option_help(spec),
        show_default=shown,
        rich_help_panel=(
            (flag.panel if flag is not None else None)
            if offered.panel == FLAG_PANEL
            else offered.panel
        ),
        metavar=metavar,
        envvar=flag.envvar if flag is not None else None,
    )
    optional = offered.default is None and not offered.required
    annotation = Annotated[_option_type(spec, switch, optional), info]
    default = inspect.Parameter.empty if offered.required else offered.default
    return inspect.Parameter(
        offered.param, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def config_options(offered: typing.Sequence[Offered]):
    """Add an option per field in ``offered`` to a Typer command.

    The command declares a ``config_values`` parameter; it gets ``{dotted key: value}`` of the
    options given (None left out). Its own parameters follow the generated ones in ``--help``.

    Example:

    ```python
    @config_options(flagged())
    def train(config_values: dict, config_file: ConfigFile = None): ...
    ```
    """

    def decorate(func):
        signature = inspect.signature(func)
        own = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for p in signature.parameters.values()
            if p.name != "config_values"
        ]
        generated = [_parameter(o) for o in offered]
        keys = {o.param: o.spec.key for o in offered}
        clash = set(keys) & {p.name for p in own}
        if clash:  # pragma: no cover - a programming error
            raise ValueError(f"options declared twice: {sorted(clash)}")

        @functools.wraps(func)
        def command(**kwargs):
            values = {keys[p]: kwargs.pop(p) for p in keys}
            given = {key: value for key, value in values.items() if value is not None}
            return func(config_values=given, **kwargs)

        parameters = generated + own
        command.__signature__ = signature.replace(parameters=parameters)
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        command.config_keys = keys  # option parameter -> dotted key (for tests and docs)
        return command

    return decorate
