"""One definition of the flags: every front end parses the same ones, from caliban_jupyter.flags.

The CLI commands, their magics, the API's keywords and the session's settings are compared
with each other here, so a flag added to one and forgotten in another fails a test.
"""

from __future__ import annotations

import argparse

import pytest

from caliban_jupyter.cli.main import build_parser
from caliban_jupyter.errors import UsageError
from caliban_jupyter.flags import (
    COMMAND_FLAGS,
    WHERE,
    add_cloud_arguments,
    add_where_arguments,
    where_of,
    where_settings,
)
from caliban_jupyter.flags_parse import MagicParser, namespace_from_options
from caliban_jupyter.notebook import magics
from caliban_jupyter.notebook.session import SETTING_TRAITS, Caliban
from caliban_jupyter.settings import ENV_VARS, FLAG_SETTINGS


def _options(parser: argparse.ArgumentParser) -> dict[str, tuple]:
    """dest -> what a user can type (help text aside), for every action of ``parser``."""
    return {a.dest: (tuple(a.option_strings), a.nargs, a.choices and tuple(a.choices),
                     a.default, a.required, a.type) for a in parser._actions}


def _cli(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions
               if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("name", sorted(COMMAND_FLAGS))
def test_each_command_and_its_magic_parse_the_same_flags(name):
    cli, magic = _options(_cli(name)), _options(magics.parser(name))
    assert cli == magic
    assert {f"--{w}" for w in WHERE} <= {s for strings, *_ in cli.values() for s in strings}


def test_cloud_its_magic_and_the_server_share_caliban_clouds_flags():
    from caliban_jupyter.server.adapter import _submission_parser

    cloud = _options(_cli("cloud"))
    for other in (magics.parser("cloud"), _submission_parser()):
        shared = {k: v for k, v in _options(other).items() if k in cloud}
        # The magic adds --capture/--form, the CLI its MODULE and --yes: the rest is equal.
        assert shared == {k: v for k, v in cloud.items() if k in shared}
        assert set(cloud) - set(shared) <= {"yes", "module", "_extra"}
    assert {"output_dir", *WHERE} <= set(cloud)


def test_where_flags_become_keywords_and_settings(tmp_path):
    parser = MagicParser(prog="p")
    add_where_arguments(parser)
    args = parser.parse_args(["--backend", "local", "--endpoint", "http://127.0.0.1:1"])
    assert where_of(args) == {"backend": "local", "endpoint": "http://127.0.0.1:1"}
    settings = where_settings(where_of(args), cwd=str(tmp_path),
                              session={"backend": "vertex", "region": "europe-west4"})
    assert (settings.backend, settings.sources["backend"]) == ("local", "flag")
    assert (settings.region, settings.sources["region"]) == ("europe-west4", "%config Caliban")
    assert settings.endpoint == "http://127.0.0.1:1"


def test_an_unknown_where_keyword_lists_the_valid_ones():
    with pytest.raises(UsageError) as e:
        where_settings({"backend": "local", "zone": "a"}, what="caliban_jupyter.logs()",
                       extra=("job", "tail"))
    assert str(e.value) == ("caliban_jupyter.logs(): unknown option 'zone'. Valid options: "
                            "backend, cloud_key, endpoint, job, project_id, region, tail")


def test_the_api_takes_the_where_keywords():
    import caliban_jupyter

    with pytest.raises(UsageError, match="Valid options: all_attempts, backend, cloud_key, "
                       "endpoint, max_groups, max_jobs, project_id, region, xgroup"):
        caliban_jupyter.status(zone="a")


def test_settings_flags_are_cloud_flags_session_traits_and_environment_variables():
    parser = MagicParser(prog="p")
    add_cloud_arguments(parser)
    dests = {a.dest for a in parser._actions}
    assert set(FLAG_SETTINGS) <= dests
    assert set(WHERE) <= set(FLAG_SETTINGS) == set(ENV_VARS)
    assert SETTING_TRAITS == FLAG_SETTINGS
    assert set(FLAG_SETTINGS) <= set(Caliban.class_trait_names(config=True))


def test_api_options_are_the_parsers_flags():
    parser = MagicParser(prog="p")
    add_where_arguments(parser)
    ns = namespace_from_options(parser, {"backend": "local", "region": "r"}, what="x()")
    assert where_of(ns) == {"backend": "local", "region": "r"}
