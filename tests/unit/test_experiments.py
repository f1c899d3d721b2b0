"""Experiment config loading and broadcasting (caliban semantics)."""

from __future__ import annotations

import io
import itertools
import json

import pytest

from caliban_jupyter.errors import ExperimentConfigError, UsageError
from caliban_jupyter.spec.experiments import (
    expand_experiment_config,
    experiment_to_args,
    load_experiment_config,
    strip_json_comments,
)

# ------------------------------------------------------------------------- expansion


def test_empty_dict_is_one_job():
    assert expand_experiment_config({}) == [{}]


def test_scalars_are_singletons():
    assert expand_experiment_config({"a": 1, "b": "x", "c": 0.5}) == [
        {"a": 1, "b": "x", "c": 0.5}
    ]


def test_product_first_key_varies_slowest():
    config = {"a": [1, 2], "b": ["x", "y", "z"], "c": 7}
    out = expand_experiment_config(config)
    expected = [
        {"a": a, "b": b, "c": 7} for a, b in itertools.product([1, 2], ["x", "y", "z"])
    ]
    assert out == expected
    # key order of every job follows the config
    assert all(list(job) == ["a", "b", "c"] for job in out)


def test_key_order_follows_config_not_alphabet():
    out = expand_experiment_config({"z": [1, 2], "a": [3, 4]})
    assert [list(job) for job in out] == [["z", "a"]] * 4
    assert [(j["z"], j["a"]) for j in out] == [(1, 3), (1, 4), (2, 3), (2, 4)]


def test_single_element_list_equals_scalar():
    assert expand_experiment_config({"a": [5]}) == expand_experiment_config({"a": 5})


def test_list_of_dicts_concatenates_in_order():
    config = [{"a": [1, 2]}, {"b": True}, {}]
    assert expand_experiment_config(config) == [{"a": 1}, {"a": 2}, {"b": True}, {}]


def test_nested_lists_are_flattened():
    config = [[{"a": 1}, [{"a": 2}]], {"a": [3, 4]}]
    assert [j["a"] for j in expand_experiment_config(config)] == [1, 2, 3, 4]


def test_compound_key_list_of_lists_zips():
    config = {"[a,b]": [[1, "x"], [2, "y"]]}
    assert expand_experiment_config(config) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def test_compound_key_flat_list_is_one_job():
    assert expand_experiment_config({"[a, b ,c]": [1, 2, 3]}) == [{"a": 1, "b": 2, "c": 3}]


def test_compound_key_position_and_product_with_other_keys():
    config = {"lr": [0.1, 0.2], "[d,w]": [[2, 64], [4, 128]], "seed": [0, 1]}
    out = expand_experiment_config(config)
    assert len(out) == 8
    assert all(list(job) == ["lr", "d", "w", "seed"] for job in out)
    assert [(j["lr"], j["d"], j["seed"]) for j in out[:4]] == [
        (0.1, 2, 0),
        (0.1, 2, 1),
        (0.1, 4, 0),
        (0.1, 4, 1),
    ]
    assert {(j["d"], j["w"]) for j in out} == {(2, 64), (4, 128)}


def test_jobs_are_independent_dicts():
    out = expand_experiment_config({"a": [1, 2], "b": 3})
    out[0]["b"] = 99
    assert out[1]["b"] == 3


def test_large_sweep_count():
    config = {"a": list(range(20)), "b": list(range(10)), "[c,d]": [[i, i] for i in range(100)]}
    out = expand_experiment_config(config)
    assert len(out) == 20 * 10 * 100
    assert out[-1] == {"a": 19, "b": 9, "c": 99, "d": 99}


@pytest.mark.parametrize(
    "config, fragment",
    [
        ({"a": []}, "'a' has an empty list"),
        ({"a": {"b": 1}}, "'a' has an object"),
        ({"a": None}, "'a' has null"),
        ({"a": [1, {"b": 2}]}, "'a' has a list holding an object"),
        ({"a": [[1, 2]]}, "compound key like \"[a,other]\""),
        ({"a b": 1}, "key 'a b'"),
        ({"[a,]": [1]}, "key '[a,]'"),
        ({"a]": 1}, "key 'a]'"),
        ({"[a,b]": 1}, "compound key '[a,b]' has a number"),
        ({"[a,b]": []}, "compound key '[a,b]' has an empty list"),
        ({"[a,b]": [1, 2, 3]}, "names 2 flags but [1, 2, 3] has 3 values"),
        ({"[a,b]": [[1, 2], [3]]}, "[3] has 1 values"),
        ({"[a,b]": [[1, 2], 3]}, "malformed value 3"),
        ({"[a,b]": [[1, {"x": 1}]]}, "malformed value"),
        ({"a": 1, "[a,b]": [1, 2]}, "flag 'a'"),
        ({"lr": 1, "--lr": 2}, "flag '--lr' is given by both 'lr' and '--lr'"),
        ({"--": 1}, "key '--' is only dashes"),
        ([], "empty list"),
        ([[]], "empty list"),
        ("lr", "must be a JSON object"),
        ([{"a": 1}, 3], "entry [1]"),
        ([{"a": 1}, [{"b": []}]], "in entry [1][0]"),
    ],
)
def test_invalid_configs_name_the_problem(config, fragment):
    with pytest.raises(ExperimentConfigError) as e:
        expand_experiment_config(config)
    assert fragment in str(e.value)
    assert isinstance(e.value, UsageError)


def test_errors_say_what_is_allowed():
    with pytest.raises(ExperimentConfigError, match="string, number or boolean"):
        expand_experiment_config({"a": {"nested": 1}})


# --------------------------------------------------------------------------- loading


def test_load_dict_and_list_pass_through():
    d = {"a": [1, 2]}
    assert load_experiment_config(d) is d
    lst = [d, {}]
    assert load_experiment_config(lst) is lst


def test_load_validates_parsed_input():
    with pytest.raises(ExperimentConfigError):
        load_experiment_config({"a": []})


def test_load_file_with_comments(tmp_path):
    p = tmp_path / "exp.json"
    p.write_text(
        "# leading comment\n"
        "{\n"
        '  "url": "http://example.com/#frag", // a URL with // and #\n'
        '  "tag": "a#b",  # hash comment\n'
        '  "q": "say \\"//hi\\" # x"\n'
        "}\n"
    )
    config = load_experiment_config(str(p))
    assert config == {"url": "http://example.com/#frag", "tag": "a#b", "q": 'say "//hi" # x'}
    assert load_experiment_config(p) == config  # PathLike too


def test_strip_comments_keeps_positions():
    text = '{"a": 1} // c\n# x\n"s//#"'
    out = strip_json_comments(text)
    assert len(out) == len(text)
    assert out.splitlines()[0].rstrip() == '{"a": 1}'
    assert out.splitlines()[1].strip() == ""
    assert out.splitlines()[2] == '"s//#"'


def test_invalid_json_names_file_line_column(tmp_path):
    p = tmp_path / "bad.json"
    # the comment before the error must not shift the reported column
    p.write_text('{\n  "a": 1, # fine\n  "b": [1, 2,,]\n}\n')
    with pytest.raises(ExperimentConfigError) as e:
        load_experiment_config(str(p))
    msg = str(e.value)
    assert str(p) in msg
    assert "line 3" in msg
    col = '  "b": [1, 2,,]'.index(",,") + 2  # 1-based column of the second comma
    assert f"column {col}" in msg


def test_invalid_json_from_stdin_names_stdin():
    with pytest.raises(ExperimentConfigError) as e:
        load_experiment_config("stdin", stdin=io.StringIO('{"a": [1,\n'))
    assert str(e.value).startswith("stdin: invalid JSON at line 2, column 1")


def test_stdin_source_any_case():
    assert load_experiment_config("STDIN", stdin=io.StringIO('{"a": [1, 2]} // c')) == {
        "a": [1, 2]
    }


def test_stdin_defaults_to_sys_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("[{}]"))
    assert load_experiment_config("stdin") == [{}]


def test_missing_file_is_clear(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(ExperimentConfigError) as e:
        load_experiment_config(str(missing))
    assert "does not exist" in str(e.value)
    assert "stdin" in str(e.value)


def test_directory_is_clear(tmp_path):
    with pytest.raises(ExperimentConfigError, match="is a directory"):
        load_experiment_config(str(tmp_path))


def test_non_utf8_file(tmp_path):
    p = tmp_path / "latin.json"
    p.write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(ExperimentConfigError, match="UTF-8"):
        load_experiment_config(str(p))


def test_duplicate_keys_rejected(tmp_path):
    p = tmp_path / "dup.json"
    p.write_text('{"lr": [1, 2], "lr": 3}')
    with pytest.raises(ExperimentConfigError, match="'lr' appears twice"):
        load_experiment_config(str(p))


def test_loaded_file_round_trips_through_expansion(tmp_path):
    config = [{"a": [1, 2], "[b,c]": [[True, "x"], [False, "y"]]}, {"d": 1.5}]
    p = tmp_path / "exp.json"
    p.write_text(json.dumps(config))
    assert expand_experiment_config(load_experiment_config(str(p))) == (
        expand_experiment_config(config)
    )


# ---------------------------------------------------------------------------- to args


def test_args_order_and_script_args_first():
    args = experiment_to_args({"b": 2, "a": "x y"}, ["train.py", "--base"])
    assert args == ["train.py", "--base", "--b", "2", "--a", "x y"]


def test_bools_true_bare_false_omitted():
    assert experiment_to_args({"v": True, "q": False, "n": 0}) == ["--v", "--n", "0"]


def test_a_key_that_is_already_a_flag_is_not_prefixed_again():
    # {"--lr": [1]} used to become `----lr 1`.
    assert experiment_to_args({"--lr": 1, "-v": True, "depth": 2}) == [
        "--lr", "1", "-v", "--depth", "2"]
    jobs = expand_experiment_config({"--lr": [1, 2]})
    assert [experiment_to_args(j) for j in jobs] == [["--lr", "1"], ["--lr", "2"]]


def test_floats_and_negative_values_use_str():
    assert experiment_to_args({"lr": 1e-05, "shift": -0.5}) == [
        "--lr",
        "1e-05",
        "--shift",
        "-0.5",
    ]


def test_none_value_rejected():
    with pytest.raises(ExperimentConfigError, match="'x' has null"):
        experiment_to_args({"x": None})


def test_script_args_not_mutated():
    base = ["a"]
    experiment_to_args({"k": 1}, base)
    assert base == ["a"]


def test_expansion_to_args_end_to_end():
    jobs = expand_experiment_config({"[a,b]": [[1, True], [2, False]], "c": ["u", "v"]})
    assert [experiment_to_args(j) for j in jobs] == [
        ["--a", "1", "--b", "--c", "u"],
        ["--a", "1", "--b", "--c", "v"],
        ["--a", "2", "--c", "u"],
        ["--a", "2", "--c", "v"],
    ]


def test_nan_and_infinity_are_rejected_with_the_reason():
    from caliban_jupyter.spec.experiments import parse_commented_json

    with pytest.raises(ExperimentConfigError, match=r"x.json: NaN is not a valid experiment"):
        parse_commented_json('{"a": [1, NaN]}', "x.json")
    with pytest.raises(ExperimentConfigError, match=r"non-finite number inf"):
        expand_experiment_config({"a": [1, float("inf")]})
