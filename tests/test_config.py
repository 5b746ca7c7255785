"""``load_config``: valid configurations, and every error naming the bad entry."""

from __future__ import annotations

import math
import re

import pytest
from rollscore.rewards import ConfigError, ScoringConfig, load_config, score_batch
from rollscore.rewards.verifier.requests import DEFAULT_MEMORY_MB, DEFAULT_TIME_LIMIT

FORMAT = {"name": "format", "weight": 0.2}
USER_MODULE = '''
def shout_reward(ground_truth, response, bonus=0.0):
    """1.0 plus a bonus when the response is the ground truth in capitals."""
    return (1.0 + bonus if response == ground_truth.upper() else 0.0), None
'''


def test_a_valid_mapping():
    config = load_config(
        {
            "num_workers": 8,
            "stop_strings": ["</answer>"],
            "sample_timeout": 2.5,
            "reward_functions": [
                {"name": "format", "weight": 1},
                {"name": "math_expr", "weight": 3, "kwargs": {"tag": "final"}},
            ],
        }
    )
    assert isinstance(config, ScoringConfig)
    assert [spec.name for spec in config.rewards.specs] == ["format", "math_expr"]
    assert config.rewards.specs[1].kwargs == (("tag", "final"),)
    assert config.rewards.weights == (0.25, 0.75)
    assert config.component_columns == ["reward_format", "reward_math_expr"]
    assert config.num_workers == 8
    assert config.stop_strings == ("</answer>",)
    assert config.sample_timeout == 2.5


def test_defaults():
    config = load_config({"reward_functions": [FORMAT]})
    assert config.num_workers is None
    assert config.stop_strings is None
    assert config.sample_timeout == DEFAULT_TIME_LIMIT == 5.0
    assert config.sample_memory_mb == DEFAULT_MEMORY_MB == 4096
    assert config.by_data_source == ()
    assert config.rewards.weights == (1.0,)


def test_a_config_is_returned_as_is():
    config = load_config({"reward_functions": [FORMAT]})
    assert load_config(config) is config


def test_kwargs_are_bound_to_the_function():
    config = load_config(
        {"reward_functions": [{"name": "format", "weight": 1, "kwargs": {"answer_tag": "final"}}]}
    )
    scores = score_batch(config, ["", ""], ["<final>x</final>", "<answer>x</answer>"])
    assert scores.reward == [0.75, 0.0]


def test_a_valid_yaml_file(tmp_path):
    path = tmp_path / "scoring.yaml"
    path.write_text(
        "num_workers: 4\n"
        "stop_strings: null\n"
        "reward_functions:\n"
        "  - {name: format, weight: 0.2}\n"
        "  - {name: math_expr, weight: 0.8, kwargs: {tag: answer}}\n",
        encoding="utf-8",
    )
    for source in (path, str(path)):
        config = load_config(source)
        assert [spec.name for spec in config.rewards.specs] == ["format", "math_expr"]
        assert config.rewards.weights == (0.2, 0.8)
        assert config.num_workers == 4
        assert config.stop_strings is None


def test_duplicate_names_get_numbered_columns():
    config = load_config({"reward_functions": [FORMAT, {"name": "format", "weight": 0.8}, FORMAT]})
    assert config.component_columns == ["reward_format", "reward_format_2", "reward_format_3"]


def test_by_data_source():
    config = load_config(
        {
            "reward_functions": [FORMAT],
            "by_data_source": {
                "geometry": {"reward_functions": [{"name": "geo3k", "weight": 1.0}]},
                "boxes": {
                    "reward_functions": [
                        {"name": "bbox_giou", "weight": 3},
                        {"name": "format", "weight": 1},
                    ]
                },
            },
        }
    )
    assert [spec.name for spec in config.rewards_for("geometry").specs] == ["geo3k"]
    assert config.rewards_for("boxes").weights == (0.75, 0.25)
    assert config.rewards_for("other") is config.rewards
    assert config.rewards_for(None) is config.rewards
    assert config.component_columns == ["reward_format", "reward_geo3k", "reward_bbox_giou"]


def test_a_module_function_name(module_dir):
    (module_dir / "cfg_user_rewards.py").write_text(USER_MODULE, encoding="utf-8")
    config = load_config(
        {
            "reward_functions": [
                {"name": "cfg_user_rewards:shout_reward", "weight": 1, "kwargs": {"bonus": 1.0}}
            ]
        }
    )
    assert config.component_columns == ["reward_shout_reward"]
    scores = score_batch(config, ["yes", "yes"], ["YES", "yes"])
    assert scores.components["reward_shout_reward"] == [2.0, 0.0]


def _entries(*extra):
    return {"reward_functions": [FORMAT, *extra]}


@pytest.mark.parametrize(
    ("config", "fragments"),
    [
        pytest.param([FORMAT], ["config must be a mapping", "list"], id="not-a-mapping"),
        pytest.param(None, ["config must be a mapping", "NoneType"], id="none"),
        pytest.param(
            {"reward_functions": [FORMAT], "reward_fns": []},
            ["unknown key(s) ['reward_fns']"],
            id="unknown-top-level-key",
        ),
        pytest.param({"num_workers": 2}, ["'reward_functions' is missing"], id="missing-list"),
        pytest.param(
            {"reward_functions": []}, ["reward_functions must be a non-empty list"], id="empty"
        ),
        pytest.param(
            {"reward_functions": "format"},
            ["reward_functions must be a non-empty list"],
            id="list-is-a-string",
        ),
        pytest.param(
            _entries("format"), ["reward_functions[1] must be a mapping"], id="entry-not-mapping"
        ),
        pytest.param(
            _entries({"name": "format", "weight": 1, "kwrgs": {}}),
            ["reward_functions[1]", "unknown key(s) ['kwrgs']"],
            id="unknown-entry-key",
        ),
        pytest.param(
            _entries({"weight": 1}), ["reward_functions[1]", "'name'", "None"], id="missing-name"
        ),
        pytest.param(
            _entries({"name": "", "weight": 1}), ["reward_functions[1]", "'name'"], id="empty-name"
        ),
        pytest.param(
            _entries({"name": "math_exprs", "weight": 1}),
            ["reward_functions[1] ('math_exprs')", "unknown reward function", "math_expr,"],
            id="unknown-name",
        ),
        pytest.param(
            _entries({"name": "format"}),
            ["reward_functions[1] ('format')", "'weight' is missing"],
            id="missing-weight",
        ),
        pytest.param(
            _entries({"name": "format", "weight": -1}),
            ["reward_functions[1] ('format')", "weight -1 must be finite and >= 0"],
            id="negative-weight",
        ),
        pytest.param(
            _entries({"name": "format", "weight": math.nan}),
            ["reward_functions[1] ('format')", "weight nan"],
            id="nan-weight",
        ),
        pytest.param(
            _entries({"name": "format", "weight": math.inf}),
            ["reward_functions[1] ('format')", "weight inf"],
            id="inf-weight",
        ),
        pytest.param(
            _entries({"name": "format", "weight": "0.5"}),
            ["reward_functions[1] ('format')", "weight '0.5' is not a number"],
            id="string-weight",
        ),
        pytest.param(
            _entries({"name": "format", "weight": None}),
            ["reward_functions[1] ('format')", "is not a number"],
            id="null-weight",
        ),
        pytest.param(
            {"reward_functions": [{"name": "format", "weight": 0}, {"name": "geo3k", "weight": 0}]},
            ["sum to 0", "reward_functions[0] ('format')", "reward_functions[1] ('geo3k')"],
            id="weights-sum-to-zero",
        ),
        pytest.param(
            _entries({"name": "format", "weight": 1, "kwargs": ["answer"]}),
            ["reward_functions[1] ('format')", "kwargs must be a mapping"],
            id="kwargs-not-mapping",
        ),
        pytest.param(
            _entries({"name": "format", "weight": 1, "kwargs": {"tag": "final"}}),
            ["reward_functions[1] ('format')", "'tag'", "think_tag", "answer_tag"],
            id="kwargs-not-accepted",
        ),
        pytest.param(
            _entries({"name": "no_such_module_for_rollscore:reward", "weight": 1}),
            ["reward_functions[1]", "cannot import module 'no_such_module_for_rollscore'"],
            id="module-does-not-exist",
        ),
        pytest.param(
            _entries({"name": "rollscore.rewards.format:no_such_function", "weight": 1}),
            ["reward_functions[1]", "has no function 'no_such_function'"],
            id="missing-attribute",
        ),
        pytest.param(
            _entries({"name": "rollscore.rewards.format:", "weight": 1}),
            ["reward_functions[1]", "unknown reward function"],
            id="empty-attribute",
        ),
        pytest.param(
            {"reward_functions": [FORMAT], "num_workers": 0},
            ["num_workers must be a positive integer"],
            id="zero-workers",
        ),
        pytest.param(
            {"reward_functions": [FORMAT], "num_workers": "8"},
            ["num_workers must be a positive integer", "'8'"],
            id="string-workers",
        ),
        pytest.param(
            {"reward_functions": [FORMAT], "num_workers": 2.5},
            ["num_workers must be a positive integer"],
            id="float-workers",
        ),
        pytest.param(
            {"reward_functions": [FORMAT], "stop_strings": "</answer>"},
            ["stop_strings must be null or a list of strings"],
            id="stop-strings-a-string",
        ),
        pytest.param(
            {"reward_functions": [FORMAT], "stop_strings": ["</answer>", 3]},
            ["stop_strings must be null or a list of strings"],
            id="stop-strings-not-strings",
        ),
        pytest.param(
            {"reward_functions": [FORMAT], "sample_timeout": 0},
            ["sample_timeout must be more than 0 and at most 3600 seconds"],
            id="zero-timeout",
        ),
        pytest.param(
            {"reward_functions": [FORMAT], "sample_timeout": math.inf},
            ["sample_timeout must be more than 0 and at most 3600 seconds"],
            id="inf-timeout",
        ),
        pytest.param(
            {"reward_functions": [FORMAT], "sample_timeout": "5s"},
            ["sample_timeout must be a number of seconds", "'5s'"],
            id="string-timeout",
        ),
        pytest.param(
            {"reward_functions": [FORMAT], "sample_timeout": 1e10},
            ["sample_timeout must be more than 0 and at most 3600 seconds, not 10000000000.0"],
            id="absurd-timeout",
        ),
        pytest.param(
            {"reward_functions": [FORMAT], "sample_timeout": -1},
            ["sample_timeout must be more than 0 and at most 3600 seconds, not -1"],
            id="negative-timeout",
        ),
        pytest.param(
            {"reward_functions": [FORMAT], "sample_timeout": math.nan},
            ["sample_timeout must be more than 0 and at most 3600 seconds, not nan"],
            id="nan-timeout",
        ),
        pytest.param(
            {"reward_functions": [FORMAT], "sample_memory_mb": 512},
            ["sample_memory_mb must be a whole number of megabytes, at least 1024, not 512"],
            id="too-little-memory",
        ),
        pytest.param(
            {"reward_functions": [FORMAT], "sample_memory_mb": "4G"},
            ["sample_memory_mb must be a whole number of megabytes", "'4G'"],
            id="memory-as-text",
        ),
        pytest.param(
            {"reward_functions": [FORMAT], "sample_memory_mb": True},
            ["sample_memory_mb must be a whole number of megabytes", "True"],
            id="memory-as-bool",
        ),
        pytest.param(
            {"reward_functions": [FORMAT], "by_data_source": ["geometry"]},
            ["by_data_source must map data sources"],
            id="by-data-source-not-mapping",
        ),
        pytest.param(
            {
                "reward_functions": [FORMAT],
                "by_data_source": {"geometry": {"reward_functions": [FORMAT], "weight": 1}},
            },
            ["by_data_source['geometry'] must be a mapping with only 'reward_functions'"],
            id="by-data-source-extra-key",
        ),
        pytest.param(
            {
                "reward_functions": [FORMAT],
                "by_data_source": {"geometry": {"reward_functions": []}},
            },
            ["by_data_source['geometry'].reward_functions must be a non-empty list"],
            id="by-data-source-empty",
        ),
        pytest.param(
            {
                "reward_functions": [FORMAT],
                "by_data_source": {
                    "geometry": {"reward_functions": [FORMAT, {"name": "geo4k", "weight": 1}]}
                },
            },
            ["by_data_source['geometry'].reward_functions[1] ('geo4k')", "unknown reward"],
            id="by-data-source-unknown-name",
        ),
        pytest.param(
            {
                "reward_functions": [FORMAT],
                "by_data_source": {
                    "geometry": {"reward_functions": [{"name": "geo3k", "weight": -2}]}
                },
            },
            ["by_data_source['geometry'].reward_functions[0] ('geo3k')", "weight -2"],
            id="by-data-source-negative-weight",
        ),
    ],
)
def test_invalid_config(config, fragments):
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError, match=re.escape("reward_functions[0]")):
        load_config({"reward_functions": [{"name": "nope", "weight": 1}]})


def test_kwargs_a_module_function_does_not_accept(module_dir):
    (module_dir / "cfg_user_rewards_kwargs.py").write_text(USER_MODULE, encoding="utf-8")
    entry = {"name": "cfg_user_rewards_kwargs:shout_reward", "weight": 1, "kwargs": {"bonus2": 1}}
    with pytest.raises(ConfigError) as raised:
        load_config({"reward_functions": [FORMAT, entry]})
    message = str(raised.value)
    assert "reward_functions[1] ('cfg_user_rewards_kwargs:shout_reward')" in message
    assert "'bonus2'" in message
    assert "bonus" in message.split("accepts")[1]


def test_a_module_function_with_the_wrong_signature(module_dir):
    (module_dir / "cfg_user_rewards_arity.py").write_text(
        "def one_argument(response):\n    return 1.0, None\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=re.escape("reward_functions[0]")):
        load_config(
            {"reward_functions": [{"name": "cfg_user_rewards_arity:one_argument", "weight": 1}]}
        )


def test_a_module_attribute_that_is_not_a_function(module_dir):
    (module_dir / "cfg_user_rewards_attr.py").write_text("THRESHOLD = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(
            {"reward_functions": [FORMAT, {"name": "cfg_user_rewards_attr:THRESHOLD", "weight": 1}]}
        )
    assert "reward_functions[1]" in str(raised.value)
    assert "has no function 'THRESHOLD'" in str(raised.value)


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ('raise RuntimeError("misconfigured at import")\n', "cfg_user_rewards_raises"),
        ("def broken(:\n", "cfg_user_rewards_syntax"),
    ],
    ids=["raises-on-import", "syntax-error"],
)
def test_a_module_that_fails_to_import_is_a_config_error(module_dir, source, name):
    (module_dir / f"{name}.py").write_text(source, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config({"reward_functions": [FORMAT, {"name": f"{name}:reward", "weight": 1}]})
    assert "reward_functions[1]" in str(raised.value)


def test_weights_too_large_to_sum_are_a_config_error():
    with pytest.raises(ConfigError) as raised:
        load_config(
            {
                "reward_functions": [
                    {"name": "format", "weight": 1e308},
                    {"name": "geo3k", "weight": 1e308},
                ]
            }
        )
    assert "reward_functions" in str(raised.value)


def test_a_missing_yaml_file(tmp_path):
    path = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert "cannot read config file" in str(raised.value)
    assert str(path) in str(raised.value)


def test_an_invalid_yaml_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("reward_functions: [\n  - {name: format\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(f"config file {path} line 2 column ")
    assert "is not valid YAML: " in message and "\n" not in message


def test_a_config_file_that_is_not_utf8_is_a_config_error_saying_where(tmp_path):
    path = tmp_path / "latin1.yaml"
    text = "# a comment\n" * 2000 + "reward_functions:\n  - {name: format, weight: 1}  # café\n"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    where = text.index("é")  # far beyond the first 8 kB a text reader decodes at once
    assert str(raised.value) == (
        f"config file {path} is not UTF-8 text (invalid continuation byte at byte {where})"
    )


@pytest.mark.parametrize("value", [".nan", ".inf", "[1.0, -.inf]"])
def test_kwargs_that_are_not_finite_numbers_are_a_config_error(tmp_path, value):
    """run.json records the config as JSON, which has no NaN or infinity."""
    path = tmp_path / "config.yaml"
    path.write_text(
        "reward_functions:\n  - {name: bbox_giou, weight: 1, kwargs: {giou_penalty_thres: "
        f"{value}}}}}\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value).startswith("config: reward_functions[0] ('bbox_giou'): kwargs {")
    assert str(raised.value).endswith("} hold a NaN or an infinity, which a run cannot record")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "config must be a mapping, not NoneType"),
        ("- format\n- math_expr\n", "config must be a mapping, not list"),
        ("reward_functions:\n  - {name: format, weight: -1}\n", "reward_functions[0] ('format')"),
    ],
)
def test_yaml_files_are_validated_like_mappings(tmp_path, text, fragment):
    path = tmp_path / "scoring.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert fragment in str(raised.value)


def test_a_config_of_nested_yaml_aliases_is_refused_before_it_expands(tmp_path):
    layers = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):  # 10^9 values once expanded, from a few hundred bytes
        previous = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        layers.append(f"{name}: &{name} [{', '.join(['*' + previous] * 10)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text(
        "anchors:\n"
        + "".join(f"  {layer}\n" for layer in layers)
        + "reward_functions:\n  - {name: format, weight: 1, kwargs: {think_tag: *i}}\n"
    )
    assert path.stat().st_size < 1024

    with pytest.raises(ConfigError, match="expands to more than 100,000 values"):
        load_config(path)


def test_a_config_that_contains_itself_is_refused():
    looped: dict = {"reward_functions": [{"name": "format", "weight": 1}]}
    looped["by_data_source"] = {"again": looped}

    with pytest.raises(ConfigError, match="expands to more than"):
        load_config(looped)


PARENT_EXPERIMENT = """\
grpo: {num_prompts_per_step: 32, seed: 42}
policy:
  model_name: Qwen/Qwen2.5-1.5B
  max_total_sequence_length: 512
  dynamic_batching: {logprob_mb_tokens: "${mul:${policy.max_total_sequence_length}, 4}"}
data: {default: {env_name: math}}
env:
  math: {num_workers: 8, math_verify_impl: hf_math_verify}
cluster: {gpus_per_node: 8, num_nodes: 1}
"""
CHILD_EXPERIMENT = """\
# a VLM experiment, as NeMo-RL's own examples write them
defaults: "parent.yaml"
grpo: {num_prompts_per_step: 8}
checkpointing: {checkpoint_dir: "results/clevr_grpo_${policy.model_name}"}
policy: {model_name: Qwen/Qwen2.5-VL-3B-Instruct}
data: {default: {env_name: clevr-cogent, processor: vlm_hf_data_processor}}
env:
  clevr-cogent:
    num_workers: ${cluster.gpus_per_node}
    reward_functions:
    - name: format
      weight: 0.2
    - name: exact_alnum
      weight: 0.8
  geometry3k:
    num_workers: 8
    reward_functions:
    - {name: format, weight: 0.1}
    - {name: math_expr, weight: 0.9}
  refcoco:
    num_workers: 8
    answer_note: "answers are boxes"
    reward_functions:
    - name: format
      weight: 0.1
    - name: bbox_giou
      weight: 0.9
      kwargs:
        giou_penalty_thres: 0.5
  dynamic:
    num_workers: ${policy.dynamic_batching.logprob_mb_tokens}
    reward_functions: [{name: format, weight: 1}]
cluster: {gpus_per_node: 2}
"""


@pytest.fixture
def experiment(tmp_path):
    """A NeMo-RL experiment YAML inheriting from a parent, as NeMo-RL's examples do."""
    (tmp_path / "parent.yaml").write_text(PARENT_EXPERIMENT)
    path = tmp_path / "vlm_grpo.yaml"
    path.write_text(CHILD_EXPERIMENT)
    return path


def test_the_sections_of_a_nemo_rl_experiment_yaml_read_as_nemo_rl_reads_them(experiment):
    clevr = load_config(experiment, "env.clevr-cogent")
    geometry = load_config(experiment, section="env.geometry3k")
    refcoco = load_config(experiment, section="env.refcoco")

    assert clevr.num_workers == 2  # ${cluster.gpus_per_node}, overridden by the child
    assert [spec.name for spec in clevr.rewards.specs] == ["format", "exact_alnum"]
    assert clevr.rewards.weights == (0.2, 0.8)
    assert geometry.rewards.weights == pytest.approx((0.1, 0.9))
    assert [spec.name for spec in geometry.rewards.specs] == ["format", "math_expr"]
    assert refcoco.rewards.specs[1].kwargs == (
        ("giou_penalty_thres", 0.5),
    )  # "answer_note" ignored
    scores = score_batch(refcoco, ["[0, 0, 1, 1]"], ["<answer>[0, 0, 1, 1]</answer>"])
    assert scores.components["reward_bbox_giou"] == [1.0]


def test_a_section_inherited_from_the_parent_is_found_and_checked(experiment):
    # found in the parent: NeMo-RL's math environment, which names no reward functions
    with pytest.raises(ConfigError, match="'reward_functions' is missing"):
        load_config(experiment, section="env.math")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "env.refcocoo",
            "has no section 'env.refcocoo' ('env' has: math, clevr-cogent, geometry3k, refcoco, "
            "dynamic)",
        ),
        ("policy.model_name", "section 'policy.model_name' is not a mapping"),
        ("env.dynamic", "cannot resolve ${mul:${policy.max_total_sequence_length}, 4}"),
    ],
)
def test_a_section_that_cannot_be_read_is_a_config_error_naming_it(experiment, section, message):
    with pytest.raises(ConfigError) as raised:
        load_config(experiment, section)

    assert message in str(raised.value)


def test_defaults_that_come_back_to_the_file_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_text('defaults: "b.yaml"\nenv: {}\n')
    (tmp_path / "b.yaml").write_text('defaults: ["a.yaml"]\n')

    with pytest.raises(ConfigError, match="its defaults come back to it"):
        load_config(tmp_path / "a.yaml", "env.x")


def test_override_replaces_a_parents_mapping_instead_of_merging(tmp_path):
    (tmp_path / "parent.yaml").write_text(
        "env:\n  vlm:\n    reward_functions: [{name: format, weight: 1}]\n    num_workers: 4\n"
    )
    (tmp_path / "child.yaml").write_text(
        'defaults: "parent.yaml"\n'
        "env:\n  vlm:\n    _override_: true\n"
        "    reward_functions: [{name: exact_alnum, weight: 1}]\n"
    )

    config = load_config(tmp_path / "child.yaml", "env.vlm")

    assert [spec.name for spec in config.rewards.specs] == ["exact_alnum"]
    assert config.num_workers is None  # replaced, not merged


MATH_CONFIG = {"reward_functions": [FORMAT, {"name": "math_expr", "weight": 0.8}]}


def test_monitor_is_a_setting_that_changes_no_score():
    assert load_config(MATH_CONFIG).monitor is True
    off = load_config({**MATH_CONFIG, "monitor": False})
    assert off.monitor is False
    assert off == load_config(MATH_CONFIG)  # a run may resume with it changed
    assert load_config(off.to_mapping()).monitor is False
    with pytest.raises(ConfigError, match="monitor must be true or false, not 'no'"):
        load_config({**MATH_CONFIG, "monitor": "no"})
