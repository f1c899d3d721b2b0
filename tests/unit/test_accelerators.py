"""Accelerator specs, machine resolution and the catalog behind them."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from caliban_jupyter.errors import CalibanError, SpecError
from caliban_jupyter.spec import accelerators as acc
from caliban_jupyter.spec.catalog import CATALOG_PATH, get_catalog, load_catalog
from caliban_jupyter.spec.defaults import DEFAULT_CPU_MACHINE, DEFAULT_GPU_MACHINE
from caliban_jupyter.spec.jobs import MachineSpec

CAT = get_catalog()


def resolve(**kw: object) -> MachineSpec:
    args: dict[str, object] = dict(gpu_spec=None, tpu_spec=None, machine_type=None,
                                   region="us-central1", gpu_mode=True)
    args.update(kw)
    return acc.resolve_machine(**args)  # type: ignore[arg-type]


def error(**kw: object) -> str:
    with pytest.raises(SpecError) as info:
        resolve(**kw)
    return str(info.value)


# -- parse_accelerator_spec ------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("8xV100", (8, "V100")),
    ("8XV100", (8, "V100")),
    ("8xv100", (8, "V100")),
    (" 2 x t4 ", (2, "T4")),
    ("1xa100_80gb", (1, "A100_80GB")),
    ("1xA100-80GB", (1, "A100_80GB")),
    ("1xh100_mega", (1, "H100_MEGA")),
    ("4xRtx_Pro_6000", (4, "RTX_PRO_6000")),
    ("1xNVIDIA_TESLA_P100", (1, "P100")),  # the Vertex enum name is accepted too
])
def test_parse_gpu_spec(text: str, expected: tuple[int, str]) -> None:
    assert acc.parse_accelerator_spec(text, "gpu") == expected


@pytest.mark.parametrize("text,expected", [
    ("8xV3", (8, "V3")), ("8xv2", (8, "V2")), ("4Xv4", (4, "V4")), ("8xv5e", (8, "V5E")),
])
def test_parse_tpu_spec(text: str, expected: tuple[int, str]) -> None:
    assert acc.parse_accelerator_spec(text, "tpu") == expected


@pytest.mark.parametrize("text", ["V100", "8V100", "x8V100", "", "eightxV100", "8*V100",
                                  "8 V100", "8x", "1.5xV100"])
def test_bad_syntax_shows_form_and_example(text: str) -> None:
    with pytest.raises(SpecError) as info:
        acc.parse_accelerator_spec(text, "gpu")
    msg = str(info.value)
    assert "NUMxGPU_TYPE" in msg and "--gpu_spec 8xV100" in msg


@pytest.mark.parametrize("text", ["0xV100", "-1xV100"])
def test_count_must_be_positive(text: str) -> None:
    with pytest.raises(SpecError, match="1 or more"):
        acc.parse_accelerator_spec(text, "gpu")


def test_unknown_type_did_you_mean_and_list() -> None:
    with pytest.raises(SpecError) as info:
        acc.parse_accelerator_spec("2xV1OO", "gpu")
    msg = str(info.value)
    assert "Did you mean V100?" in msg
    for short in acc.gpu_types():
        assert short in msg
    assert "V5E" not in msg  # TPU names are not offered for --gpu_spec


def test_unknown_tpu_type_lists_tpus() -> None:
    with pytest.raises(SpecError) as info:
        acc.parse_accelerator_spec("8xV5", "tpu")
    msg = str(info.value)
    assert "V5E" in msg and "Did you mean" in msg
    assert all(t in msg for t in acc.tpu_types())


@pytest.mark.parametrize("text", ["8xx100", "8xV100x2"])
def test_trailing_garbage_is_an_unknown_type(text: str) -> None:
    with pytest.raises(SpecError, match="unknown GPU type.*Valid GPU types"):
        acc.parse_accelerator_spec(text, "gpu")


def test_type_of_the_other_kind_names_the_right_flag() -> None:
    with pytest.raises(SpecError, match=r"V3 is a TPU.*--tpu_spec 8xV3"):
        acc.parse_accelerator_spec("8xV3", "gpu")
    with pytest.raises(SpecError, match=r"T4 is a GPU.*--gpu_spec 1xT4"):
        acc.parse_accelerator_spec("1xT4", "tpu")


def test_spec_error_is_a_caliban_usage_error() -> None:
    with pytest.raises(CalibanError) as info:
        acc.parse_accelerator_spec("nope", "gpu")
    assert info.value.exit_code == 2


def test_bad_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        acc.parse_accelerator_spec("1xT4", "cpu")


# -- defaults and conflicts --------------------------------------------------------------


def test_gpu_mode_default_is_1xP100_on_default_machine() -> None:
    spec = resolve()
    assert spec == MachineSpec(DEFAULT_GPU_MACHINE, CAT.accelerators["P100"].vertex, 1)


def test_nogpu_default_is_cpu_machine() -> None:
    assert resolve(gpu_mode=False) == MachineSpec(DEFAULT_CPU_MACHINE)


def test_nogpu_with_gpu_spec_conflicts() -> None:
    msg = error(gpu_mode=False, gpu_spec="1xT4")
    assert "--nogpu" in msg and "drop" in msg


def test_gpu_and_tpu_together_rejected_with_explanation() -> None:
    msg = error(gpu_spec="1xT4", tpu_spec="8xV3")
    assert "TPU VM" in msg and "drop one" in msg


def test_tpu_spec_adds_no_default_gpu() -> None:
    spec = resolve(tpu_spec="8xV3")
    assert spec.accelerator_type == "TPU_V3" and spec.accelerator_count == 8
    assert spec.machine_type == "cloud-tpu"


def test_empty_strings_mean_unset() -> None:
    assert resolve(gpu_spec="", tpu_spec=" ", machine_type="") == resolve()


# -- machine type auto-pick --------------------------------------------------------------


@pytest.mark.parametrize("gpu,machine", [
    ("4xA100", "a2-highgpu-4g"), ("16xA100", "a2-megagpu-16g"), ("8xA100_80GB", "a2-ultragpu-8g"),
    ("8xH100", "a3-highgpu-8g"), ("1xH100", "a3-highgpu-1g"), ("8xH100_MEGA", "a3-megagpu-8g"),
    ("8xH200", "a3-ultragpu-8g"), ("8xB200", "a4-highgpu-8g"), ("4xGB200", "a4x-highgpu-4g"),
    ("2xL4", "g2-standard-24"), ("8xL4", "g2-standard-96"), ("1xRTX_PRO_6000", "g4-standard-48"),
])
def test_fixed_families_are_picked(gpu: str, machine: str) -> None:
    spec = resolve(gpu_spec=gpu)
    assert spec.machine_type == machine
    count, short = acc.parse_accelerator_spec(gpu, "gpu")
    m = CAT.machines[machine]
    assert (m.count, spec.accelerator_count) == (count, count)  # the name's N matches
    assert spec.accelerator_type == CAT.accelerators[short].vertex


def test_fixed_family_pick_honours_the_machine_name() -> None:
    # The N in a2-highgpu-Ng / a3-highgpu-Ng is the GPU count, for every machine.
    for m in CAT.machines.values():
        found = re.search(r"-(\d+)[gt]$", m.name)
        if m.accelerators and found:
            assert int(found.group(1)) == m.count, m.name


@pytest.mark.parametrize("gpu", ["1xT4", "4xT4", "8xV100", "2xP4", "4xP100"])
def test_attachable_gpus_keep_the_default_machine(gpu: str) -> None:
    assert resolve(gpu_spec=gpu).machine_type == DEFAULT_GPU_MACHINE


@pytest.mark.parametrize("tpu,machine,topology", [
    ("8xV2", "cloud-tpu", None), ("8xV3", "cloud-tpu", None),
    ("1xV5E", "ct5lp-hightpu-1t", "1x1"), ("4xV5E", "ct5lp-hightpu-4t", "2x2"),
    ("8xV5E", "ct5lp-hightpu-8t", "2x4"),
])
def test_tpu_machine_and_topology(tpu: str, machine: str, topology: str | None) -> None:
    spec = resolve(tpu_spec=tpu)
    assert (spec.machine_type, spec.tpu_topology) == (machine, topology)
    assert spec.to_json().get("tpuTopology") == topology


def test_tpu_v4_in_its_region() -> None:
    region = acc.regions_for("V4")[0]
    spec = resolve(tpu_spec="4xV4", region=region)
    assert spec == MachineSpec("ct4p-hightpu-4t", "TPU_V4_POD", 4, "2x2x1")


def test_cloud_tpu_alias() -> None:
    spec = resolve(tpu_spec="8xV2", machine_type="cloud_tpu")
    assert spec.machine_type == "cloud-tpu" and spec.accelerator_type == "TPU_V2"
    assert resolve(tpu_spec="8xV3", machine_type="CLOUD_TPU").machine_type == "cloud-tpu"


def test_machine_type_is_case_insensitive() -> None:
    assert resolve(machine_type=" N1-Standard-16 ").machine_type == "n1-standard-16"


def test_fixed_machine_without_spec_brings_its_gpu() -> None:
    spec = resolve(machine_type="a2-highgpu-2g")
    assert (spec.accelerator_type, spec.accelerator_count) == ("NVIDIA_TESLA_A100", 2)


def test_tpu_machine_without_spec_brings_its_tpu_even_with_nogpu() -> None:
    spec = resolve(machine_type="ct5lp-hightpu-4t", gpu_mode=False)
    assert (spec.accelerator_type, spec.accelerator_count, spec.tpu_topology) == (
        "TPU_V5_LITEPOD", 4, "2x2")


def test_gpu_machine_with_nogpu_is_rejected() -> None:
    msg = error(machine_type="a2-highgpu-2g", gpu_mode=False)
    assert "--nogpu" in msg and "--gpu_spec 2xA100" in msg and DEFAULT_CPU_MACHINE in msg


def test_cloud_tpu_without_spec_asks_which_tpu() -> None:
    msg = error(machine_type="cloud-tpu")
    assert "--tpu_spec 8xV2" in msg and "--tpu_spec 8xV3" in msg


# -- rejections and their suggestions ------------------------------------------------------


def test_invalid_count_proposes_valid_counts() -> None:
    msg = error(gpu_spec="3xV100")
    assert "1, 2, 4, 8" in msg and "--gpu_spec 2xV100" in msg
    msg = error(tpu_spec="2xV5E")
    assert "1, 4, 8" in msg and "--tpu_spec" in msg


def test_invalid_count_checked_for_the_default_tpu_machine_too() -> None:
    assert "8" in error(tpu_spec="4xV3")


def test_unknown_machine_type_did_you_mean() -> None:
    msg = error(machine_type="n1-standdard-8")
    assert "Did you mean n1-standard-8" in msg and "--force" in msg


def test_unknown_region_did_you_mean_and_list() -> None:
    msg = error(region="us-centrl1")
    assert "Did you mean us-central1" in msg
    assert all(r in msg for r in acc.regions())


def test_gpu_on_fixed_family_of_other_gpu() -> None:
    msg = error(gpu_spec="2xV100", machine_type="a2-highgpu-4g")
    assert "a2-highgpu-4g" in msg and "A100" in msg and "n1-standard-8" in msg


def test_wrong_count_on_fixed_machine_names_the_right_machine() -> None:
    msg = error(gpu_spec="2xA100", machine_type="a2-highgpu-4g")
    assert "exactly 4" in msg and "a2-highgpu-2g" in msg


def test_fixed_only_gpu_on_n1_proposes_its_family() -> None:
    msg = error(gpu_spec="4xA100", machine_type="n1-standard-8")
    assert "a2-highgpu-4g" in msg
    assert "a3-" not in msg and "n1-" not in msg.split("Use one of")[1]


def test_n1_vcpu_limit_per_gpu_count() -> None:
    msg = error(gpu_spec="1xV100", machine_type="n1-standard-32")
    limit = CAT.families["n1"].attach["V100"][1]
    assert f"at most {limit[0]:g} vCPUs" in msg
    assert "4 or 8 x V100" in msg  # what n1-standard-32 does take
    # the alternatives proposed all really take 1xV100
    proposed = msg.split("take 1xV100: ")[1].split(";")[0].split(", ")
    for name in proposed:
        assert acc.resolve_machine(gpu_spec="1xV100", tpu_spec=None, machine_type=name,
                                   region="us-central1", gpu_mode=True).machine_type == name


def test_default_gpu_on_cpu_only_machine_explains_the_default() -> None:
    msg = error(machine_type="e2-standard-4")
    assert "default GPU spec" in msg and "--nogpu" in msg


def test_tpu_on_gpu_machine_is_rejected() -> None:
    msg = error(tpu_spec="4xV5E", machine_type="n1-standard-8")
    assert "TPU VM" in msg and "ct5lp-hightpu-4t" in msg


def test_gpu_on_tpu_machine_is_rejected() -> None:
    msg = error(gpu_spec="1xT4", machine_type="ct5lp-hightpu-4t")
    assert "ct5lp-hightpu-4t" in msg and "n1-standard-8" in msg


def test_region_without_the_accelerator_proposes_nearby_regions() -> None:
    have = acc.regions_for("V100")
    region = next(r for r in acc.regions() if r.startswith("europe-") and r not in have)
    msg = error(gpu_spec="1xV100", region=region)
    proposed = msg.split("regions with V100: ")[1].split(";")[0].split(", ")
    assert set(proposed) == set(have)
    assert proposed[0].startswith("europe-")  # same continent first


def test_region_check_applies_to_the_default_spec_too() -> None:
    region = next(r for r in acc.regions() if r not in acc.regions_for("P100"))
    assert "P100 is not offered" in error(region=region)


def test_retired_gpu_is_explained() -> None:
    assert "end of support" in error(gpu_spec="1xK80")
    assert "end of support" in error(gpu_spec="3xK80")  # before the count is judged
    assert resolve(gpu_spec="1xK80", force=True).accelerator_type == "NVIDIA_TESLA_K80"


def test_cpu_only_job_checks_machine_and_region() -> None:
    assert "Did you mean" in error(gpu_mode=False, machine_type="n1-highcpu-33")
    assert "Did you mean" in error(gpu_mode=False, region="europe-wst4")
    c2 = CAT.family_regions("c2")
    assert c2 is not None
    outside = next(r for r in acc.regions() if r not in c2)
    msg = error(gpu_mode=False, machine_type="c2-standard-8", region=outside)
    assert "c2" in msg and c2[0] in msg
    assert resolve(gpu_mode=False, machine_type="c2-standard-8", region=c2[0]).accelerator_type \
        is None


# -- force --------------------------------------------------------------------------------


def test_force_skips_combination_count_and_region_checks() -> None:
    assert resolve(gpu_spec="1xV100", machine_type="n1-standard-32", force=True
                   ).machine_type == "n1-standard-32"
    assert resolve(gpu_spec="1xV100", region="europe-west1", force=True).accelerator_count == 1
    assert resolve(gpu_spec="1xH100", region="xx-new1", force=True).machine_type == \
        "a3-highgpu-1g"
    spec = resolve(gpu_spec="16xB200", machine_type="a5-highgpu-16g", force=True)
    assert spec == MachineSpec("a5-highgpu-16g", "NVIDIA_B200", 16)


def test_force_never_skips_syntax_types_or_conflicts() -> None:
    for bad in (dict(gpu_spec="V100"), dict(gpu_spec="1xV999"),
                dict(gpu_spec="1xT4", gpu_mode=False), dict(gpu_spec="1xT4", tpu_spec="8xV3")):
        with pytest.raises(SpecError):
            resolve(force=True, **bad)


def test_force_without_a_known_machine_asks_for_one() -> None:
    assert "--machine_type" in error(gpu_spec="3xA100", force=True)


# -- queries -------------------------------------------------------------------------------


def test_queries_for_the_form() -> None:
    assert acc.valid_counts("v100") == [1, 2, 4, 8]
    assert acc.valid_counts("V5E") == [1, 4, 8]
    a100 = acc.machine_types_for("a100")
    assert a100 and all(m.startswith("a2-") for m in a100)
    assert acc.machine_types_for("A100", 4) == ["a2-highgpu-4g"]
    assert "K80" not in acc.gpu_types() and "K80" in acc.gpu_types(include_retired=True)
    assert acc.tpu_types() == ["V2", "V3", "V4", "V5E"]
    assert set(acc.regions_for("h100")) <= set(acc.regions())
    assert "us-central1" in acc.regions()
    with pytest.raises(SpecError, match="Did you mean"):
        acc.valid_counts("V10")


def test_machine_types_filters() -> None:
    a3 = acc.machine_types(family="a3")
    assert a3 and all(m.startswith("a3-") for m in a3)
    assert acc.machine_types(family="n1") == list(CAT.families["n1"].machines)
    outside = next(r for r in acc.regions() if r not in acc.regions_for("A100"))
    here = acc.machine_types(region=outside)
    assert DEFAULT_CPU_MACHINE in here and "a2-highgpu-1g" not in here
    assert len(acc.machine_types()) == len(CAT.machines)


def test_catalog_info_is_dated_and_sourced() -> None:
    info = acc.catalog_info()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(info["as_of"]))
    sources = info["sources"]
    assert isinstance(sources, list)
    assert any("vertex-ai/docs/training/configure-compute" in s for s in sources)
    assert any("vertex-ai/docs/general/locations" in s for s in sources)


# -- the catalog itself ----------------------------------------------------------------------


def test_catalog_is_consistent() -> None:
    for a in CAT.accelerators.values():
        assert set(a.regions) <= set(CAT.regions), a.short
        if not a.retired:
            assert a.regions and CAT.valid_counts(a.short), a.short
    for fam in CAT.families.values():
        assert set(fam.accelerators) <= set(CAT.accelerators)
        assert set(fam.attach) <= set(CAT.accelerators)
        assert fam.regions is None or set(fam.regions) <= set(CAT.regions)
    for alias, target in CAT.aliases.items():
        assert target in CAT.machines, alias
    assert DEFAULT_GPU_MACHINE in CAT.machines and DEFAULT_CPU_MACHINE in CAT.machines


def test_catalog_enum_names_exist_in_the_sdk() -> None:
    mod = pytest.importorskip("google.cloud.aiplatform_v1.types.accelerator_type")
    members = set(mod.AcceleratorType.__members__)
    assert {a.vertex for a in CAT.accelerators.values()} <= members
    # every accelerator Vertex knows has a short name here
    assert members - {"ACCELERATOR_TYPE_UNSPECIFIED"} <= set(CAT.by_vertex)


def test_updating_the_catalog_needs_no_code_change(tmp_path) -> None:
    data = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    data["regions"]["xx-new1"] = "Somewhere"
    data["accelerators"]["H100"]["regions"].append("xx-new1")
    data["families"]["a3-highgpu"]["machines"]["a3-highgpu-16g"] = [416, 3744, 16]
    data["aliases"]["tpu-vm"] = "cloud-tpu"
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    cat = load_catalog(path)
    spec = acc.resolve_machine(gpu_spec="16xH100", tpu_spec=None, machine_type=None,
                               region="xx-new1", gpu_mode=True, catalog=cat)
    assert spec.machine_type == "a3-highgpu-16g"
    assert acc.resolve_machine(gpu_spec=None, tpu_spec="8xV3", machine_type="TPU-VM",
                               region="us-central1", gpu_mode=True, catalog=cat
                               ).machine_type == "cloud-tpu"
    with pytest.raises(SpecError):  # the packaged catalog knows neither
        resolve(gpu_spec="16xH100", region="xx-new1")


def test_import_is_light() -> None:
    code = ("import sys, caliban_jupyter.spec.accelerators as a\n"
            "a.resolve_machine(gpu_spec='4xA100', tpu_spec=None, machine_type=None,"
            " region='us-central1', gpu_mode=True)\n"
            "heavy = ('difflib', 'google.cloud.aiplatform', 'google.cloud.aiplatform_v1', 'proto',"
            " 'docker')\n"
            "print(sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
