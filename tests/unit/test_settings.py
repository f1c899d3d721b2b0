from __future__ import annotations

import json

import pytest

from caliban_jupyter.errors import ConfigError
from caliban_jupyter.settings import DEFAULT_BASE_IMAGES, resolve_settings


def write_config(tmp_path, data):
    (tmp_path / ".calibanconfig.json").write_text(json.dumps(data))


def test_defaults_without_anything(tmp_path):
    s = resolve_settings({}, cwd=tmp_path, env={})
    assert s.region == "us-central1"
    assert s.backend == "vertex"
    assert s.project_id is None
    assert s.base_image == DEFAULT_BASE_IMAGES["gpu"]
    assert s.sources["region"] == "default"


def test_precedence_flag_env_config(tmp_path):
    write_config(tmp_path, {"project_id": "from-config", "region": "europe-west4"})
    env = {"PROJECT_ID": "from-env"}
    s = resolve_settings({"project_id": None}, cwd=tmp_path, env=env)
    assert (s.project_id, s.sources["project_id"]) == ("from-env", "environment PROJECT_ID")
    assert (s.region, s.sources["region"]) == ("europe-west4", ".calibanconfig.json")
    s = resolve_settings({"project_id": "from-flag"}, cwd=tmp_path, env=env)
    assert (s.project_id, s.sources["project_id"]) == ("from-flag", "flag")


def test_session_sits_between_flag_and_env(tmp_path):
    s = resolve_settings({}, cwd=tmp_path, env={"REGION": "asia-east1"},
                         session={"region": "us-east1"})
    assert (s.region, s.sources["region"]) == ("us-east1", "%config Caliban")


def test_credentials_env(tmp_path):
    s = resolve_settings({}, cwd=tmp_path, env={"GOOGLE_APPLICATION_CREDENTIALS": "/k.json"})
    assert s.cloud_key == "/k.json"


def test_base_image_per_mode_and_empty_dict(tmp_path):
    write_config(tmp_path, {"base_image": {"cpu": "my/cpu:1", "gpu": "my/gpu:1"}})
    assert resolve_settings({}, gpu=False, cwd=tmp_path, env={}).base_image == "my/cpu:1"
    assert resolve_settings({}, gpu=True, cwd=tmp_path, env={}).base_image == "my/gpu:1"
    write_config(tmp_path, {"base_image": {}})
    s = resolve_settings({}, gpu=False, cwd=tmp_path, env={})
    assert s.base_image == DEFAULT_BASE_IMAGES["cpu"]
    write_config(tmp_path, {"base_image": "one:for-both"})
    assert resolve_settings({}, gpu=False, cwd=tmp_path, env={}).base_image == "one:for-both"


def test_base_image_env_beats_config(tmp_path):
    write_config(tmp_path, {"base_image": "cfg:1"})
    s = resolve_settings({}, cwd=tmp_path, env={"CALIBAN_BASE_IMAGE": "env:1"})
    assert s.base_image == "env:1"


def test_apt_packages_list_or_per_mode(tmp_path):
    write_config(tmp_path, {"apt_packages": ["curl", "git"]})
    assert resolve_settings({}, cwd=tmp_path, env={}).apt_packages == ("curl", "git")
    write_config(tmp_path, {"apt_packages": {"gpu": ["cuda-tools"], "cpu": ["curl"]}})
    assert resolve_settings({}, gpu=False, cwd=tmp_path, env={}).apt_packages == ("curl",)
    assert resolve_settings({}, gpu=True, cwd=tmp_path, env={}).apt_packages == ("cuda-tools",)


def test_unknown_key_named(tmp_path):
    write_config(tmp_path, {"project_id": "p", "base_imag": "x"})
    with pytest.raises(ConfigError, match="unknown key 'base_imag'.*allowed keys"):
        resolve_settings({}, cwd=tmp_path, env={})


def test_invalid_json_names_line_and_column(tmp_path):
    (tmp_path / ".calibanconfig.json").write_text('{\n  "project_id": "p",\n}\n')
    with pytest.raises(ConfigError, match=r"line 3, column 1"):
        resolve_settings({}, cwd=tmp_path, env={})


def test_bad_shapes(tmp_path):
    write_config(tmp_path, {"apt_packages": "curl"})
    with pytest.raises(ConfigError, match="apt_packages"):
        resolve_settings({}, cwd=tmp_path, env={})
    write_config(tmp_path, {"base_image": {"tpu": "x"}})
    with pytest.raises(ConfigError, match="'cpu' and 'gpu'"):
        resolve_settings({}, cwd=tmp_path, env={})


def test_backend_from_env_and_config(tmp_path):
    assert resolve_settings({}, cwd=tmp_path, env={"CALIBAN_BACKEND": "local"}).backend == "local"
    write_config(tmp_path, {"backend": "local"})
    assert resolve_settings({}, cwd=tmp_path, env={}).backend == "local"
    # The name is checked where the job service is loaded, against those installed.
    from caliban_jupyter.backends import get_backend

    settings = resolve_settings({"backend": "gcp"}, cwd=tmp_path, env={})
    with pytest.raises(ConfigError, match=r"unknown backend 'gcp' \(from flag\); the installed "
                                          r"job services are: vertex, local"):
        get_backend(settings)


def test_unreadable_config_file_is_a_config_error(tmp_path):
    config = tmp_path / ".calibanconfig.json"
    config.write_bytes(b'{"region": "\xff"}')
    with pytest.raises(ConfigError, match="not UTF-8 text.*save it as UTF-8"):
        resolve_settings({}, cwd=tmp_path, env={})
    config.unlink()
    config.symlink_to(config)  # a link loop: unreadable even for root
    with pytest.raises(ConfigError, match="cannot read .*calibanconfig.json"):
        resolve_settings({}, cwd=tmp_path, env={})
    config.unlink()
    config.mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        resolve_settings({}, cwd=tmp_path, env={})
