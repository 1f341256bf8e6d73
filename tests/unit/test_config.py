from pathlib import Path

import pytest

from supportkit.config import (
    AdapterConfig,
    Config,
    DataConfig,
    GenerationConfig,
    LoRAConfig,
    ModelConfig,
    PEFTConfig,
    PromptConfig,
    TrainingConfig,
)
from supportkit.errors import ConfigError


def test_default_config_is_valid_and_points_at_bundled_model() -> None:
    config = Config()
    config.validate()
    assert config.model.name_or_path == "bundled:smollm2-135m-instruct"
    assert config.model.device == "cpu"
    assert config.model.dtype == "float32"
    assert config.model.trust_remote_code is False
    assert config.peft.method == "lora"


def test_yaml_round_trip(tmp_path: Path) -> None:
    config = Config().with_overrides(
        ["training.learning_rate=1e-4", "lora.r=16", "lora.target_modules=[q_proj, v_proj]"]
    )
    path = tmp_path / "c.yaml"
    config.to_yaml(path)
    again = Config.from_yaml(path)
    assert again == config
    assert again.training.learning_rate == pytest.approx(1e-4)
    assert again.lora.target_modules == ["q_proj", "v_proj"]


def test_partial_yaml_keeps_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  batch_size: 8\npeft:\n  method: ia3\n")
    config = Config.from_yaml(path)
    assert config.training.batch_size == 8
    assert config.training.learning_rate == TrainingConfig().learning_rate
    assert config.peft.method == "ia3"


def test_overrides_parse_types_and_nested_options() -> None:
    config = Config().with_overrides(
        [
            "training.gradient_accumulation_steps=4",
            "training.mixed_precision=bf16",
            "generation.do_sample=true",
            "peft.method=prefix_tuning",
            "peft.options.num_virtual_tokens=12",
            "data.train_file=data/x.jsonl",
        ]
    )
    assert config.training.gradient_accumulation_steps == 4
    assert config.generation.do_sample is True
    assert config.peft.options == {"num_virtual_tokens": 12}
    assert config.data.train_file == "data/x.jsonl"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.learning_rat=1e-4", r"unknown field training.learning_rat"),
        ("trainin.learning_rate=1e-4", r"unknown config section 'trainin'"),
        ("training.learning_rate", r"must look like section.field=value"),
        ("learning_rate=1", r"must name a section and a field"),
        ("training.batch_size=two", r"training.batch_size = 'two': expected a whole number"),
        ("training.batch_size=1.5", r"expected a whole number"),
        ("model.trust_remote_code=yes please", r"expected true or false"),
        ("lora.target_modules=5", r"lora.target_modules"),
    ],
)
def test_bad_overrides_name_the_problem(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config().with_overrides([override])


def test_yaml_booleans_are_only_true_and_false(tmp_path: Path) -> None:
    """YAML 1.1 reads no/yes/on/off as booleans: ``mixed_precision=no`` must stay the string."""
    config = Config().with_overrides(["training.mixed_precision=no", "training.gradient_checkpointing=true"])
    assert config.training.mixed_precision == "no" and config.training.gradient_checkpointing is True
    (tmp_path / "c.yaml").write_text("training:\n  mixed_precision: no\n  gradient_checkpointing: False\n")
    loaded = Config.from_yaml(tmp_path / "c.yaml")
    assert loaded.training.mixed_precision == "no" and loaded.training.gradient_checkpointing is False
    assert Config.from_yaml(_round_trip(loaded, tmp_path)).training.mixed_precision == "no"
    with pytest.raises(ConfigError, match="gradient_checkpointing = 'yes': expected true or false"):
        Config().with_overrides(["training.gradient_checkpointing=yes"])


def _round_trip(config: Config, tmp_path: Path) -> Path:
    config.to_yaml(tmp_path / "out.yaml")
    return tmp_path / "out.yaml"


def test_override_values_are_never_evaluated() -> None:
    # A Python expression stays a plain string (and here is simply an unknown method name).
    with pytest.raises(ConfigError, match=r"peft\.method"):
        Config().with_overrides(["peft.method=__import__('os').system('echo pwned')"])
    config = Config().with_overrides(["data.train_file=__import__('os')"])
    assert config.data.train_file == "__import__('os')"


def test_unknown_keys_in_yaml_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  lr: 0.1\n")
    with pytest.raises(ConfigError, match=r"c.yaml: unknown field\(s\) training.lr"):
        Config.from_yaml(path)
    path.write_text("optimizer:\n  lr: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown config section\(s\) optimizer"):
        Config.from_yaml(path)
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        Config.from_yaml(path)
    with pytest.raises(ConfigError, match="cannot read config file"):
        Config.from_yaml(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: ModelConfig(dtype="float8"), r"model.dtype = 'float8' is not allowed"),
        (lambda: ModelConfig(device="gpu"), r"model.device = 'gpu'"),
        (lambda: ModelConfig(name_or_path=""), r"model.name_or_path"),
        (lambda: GenerationConfig(max_new_tokens=0), r"generation.max_new_tokens = 0"),
        (lambda: GenerationConfig(top_p=1.5), r"generation.top_p"),
        (lambda: LoRAConfig(r=0), r"lora.r = 0"),
        (lambda: LoRAConfig(lora_dropout=1.0), r"lora.lora_dropout"),
        (lambda: LoRAConfig(bias="some"), r"lora.bias = 'some'"),
        (lambda: LoRAConfig(target_modules=[]), r"lora.target_modules"),
        (lambda: AdapterConfig(adapter_type="lora"), r"adapter.adapter_type = 'lora'"),
        (lambda: AdapterConfig(reduction_factor=-2), r"adapter.reduction_factor"),
        (lambda: AdapterConfig(non_linearity="softmax"), r"adapter.non_linearity"),
        (lambda: AdapterConfig(adapter_name="has space"), r"adapter.adapter_name"),
        (lambda: PEFTConfig(method="bogus"), r"peft.method = 'bogus'.*lora"),
        (lambda: PromptConfig(selector="best"), r"prompt.selector = 'best'"),
        (lambda: PromptConfig(max_prompt_tokens=0), r"prompt.max_prompt_tokens"),
        (lambda: PromptConfig(mmr_lambda=2.0), r"prompt.mmr_lambda"),
        (lambda: TrainingConfig(mixed_precision="fp8"), r"training.mixed_precision = 'fp8'"),
        (lambda: TrainingConfig(learning_rate=0), r"training.learning_rate = 0"),
        (lambda: TrainingConfig(batch_size=0), r"training.batch_size"),
        (lambda: TrainingConfig(lr_scheduler="step"), r"training.lr_scheduler"),
        (lambda: DataConfig(train_split=0.5, val_split=0.1, test_split=0.1), r"must sum to 1"),
        (lambda: DataConfig(on_error="ignore"), r"data.on_error"),
        (lambda: DataConfig(max_length=0), r"data.max_length"),
    ],
)
def test_every_validation_error_names_field_and_allowed_values(factory, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        factory()


def test_assignment_after_construction_fails_on_validate() -> None:
    config = Config()
    config.peft.method = "bogus"
    with pytest.raises(ConfigError, match=r"peft.method = 'bogus'.*known|one of"):
        config.validate()
    config = Config()
    config.training = "fast"  # type: ignore[assignment]
    with pytest.raises(ConfigError, match=r"config\.training must be a TrainingConfig"):
        config.validate()


def test_adapter_aliases_normalise() -> None:
    assert AdapterConfig(adapter_type="houlsby").adapter_type == "double_seq_bn"
    assert AdapterConfig(adapter_type="pfeiffer").adapter_type == "seq_bn"
    assert AdapterConfig(adapter_type="parallel").adapter_type == "par_bn"


def test_shipped_configs_load() -> None:
    configs = sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml"))
    assert configs, "configs/ must hold example configs"
    for path in configs:
        Config.from_yaml(path).validate()


def test_config_package_keeps_every_public_name() -> None:
    import supportkit
    import supportkit.config as config

    for name in config.__all__:
        assert getattr(config, name) is not None
    for name in ("Config", "LoRAConfig", "AdapterConfig", "ModelConfig", "PromptConfig", "TrainingConfig"):
        assert getattr(supportkit, name) is getattr(config, name)
    assert Config().model.name_or_path == config.BUNDLED_MODEL


def test_use_dora_is_a_deprecated_alias_of_the_dora_method(tmp_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match=r"lora.use_dora is deprecated: set peft.method=dora"):
        config = Config.from_dict({"lora": {"use_dora": True}})
    assert config.peft.method == "dora" and config.lora.use_dora is False
    config.to_yaml(tmp_path / "c.yaml")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the saved config holds the one switch: no warning again
        again = Config.from_yaml(tmp_path / "c.yaml")
    assert again.peft.method == "dora" and again.lora.use_dora is False
    # set after construction: validate() (called by every component) applies it
    config = Config()
    config.lora.use_dora = True
    with pytest.warns(DeprecationWarning):
        config.validate()
    assert config.peft.method == "dora"
    # another method keeps its name; the alias only ever meant LoRA -> DoRA
    with pytest.warns(DeprecationWarning, match="'ia3'"):
        config = Config.from_dict({"lora": {"use_dora": True}, "peft": {"method": "ia3"}})
    assert config.peft.method == "ia3"
