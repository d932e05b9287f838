"""Profiles and targets parse into validated objects; a bad file gets one line naming the
file, the line and the field."""

from __future__ import annotations

import pytest

from edgeasr.quantize.profiles import load_profile, profile_names
from edgeasr.runtime.config import load_target, target_names
from edgeasr.runtime.errors import EdgeASRError

REQUIRED = {
    "ort-fp32", "ort-int8-dynamic", "ort-int8-weight-only", "ort-int4-weight-only", "ort-int8-static",
    "ov-fp32", "ov-fp16", "ov-int8-weight-only", "ov-int4-weight-only", "ov-int8-static",
}  # fmt: skip


def test_shipped_profiles_parse():
    names = profile_names()
    assert REQUIRED <= set(names)
    assert any(n.startswith("ort-mixed") for n in names) and any(n.startswith("ov-mixed") for n in names)
    for name in names:
        p = load_profile(name)
        assert p.name == name and p.description and p.backend in ("onnxruntime", "openvino")
        assert {"encoder", "decoder"} & set(p.graphs) or "default" in p.graphs
    mixed = load_profile("ort-int8-ov-encoder")  # one graph on the other backend
    assert mixed.graph_backend("encoder") == "openvino" and mixed.graph_backend("decoder") == "onnxruntime"


def test_shipped_targets_parse():
    assert {"x86-laptop", "rpi4", "rpi5"} <= set(target_names())
    rpi5 = load_target("rpi5")
    assert rpi5.arch == "aarch64" and rpi5.cores == 4 and rpi5.cpu == "Cortex-A76"
    assert load_target("rpi4").cpu == "Cortex-A72"


GOOD = """name: p
description: d
backend: onnxruntime
graphs:
  encoder: {method: dynamic_int8, per_channel: true}
  decoder:
    method: matmul_nbits
    bits: 4
"""


@pytest.mark.parametrize(
    "text,needle",
    [
        (GOOD.replace("backend: onnxruntime", "backend: tensorrt"), "p.yaml:3: field 'backend' is 'tensorrt'"),
        (GOOD.replace("    bits: 4", "    bits: four"), "p.yaml:8: field 'graphs.decoder.bits' must be a integer"),
        (GOOD.replace("    bits: 4", "    bits: 3"), "p.yaml:8: field 'graphs.decoder.bits' is 3; allowed: 4, 8"),
        (GOOD.replace("    bits: 4", "    bitz: 4"), "p.yaml:8: unknown field 'graphs.decoder.bitz'"),
        (GOOD.replace("method: matmul_nbits", "method: gptq"), "p.yaml:7: field 'graphs.decoder.method' is 'gptq'"),
        (
            GOOD.replace("method: matmul_nbits", "method: nncf_weights"),
            "p.yaml:7: method 'nncf_weights' runs on openvino",
        ),
        (
            GOOD.replace("method: dynamic_int8, per_channel: true", "method: dynamic_int8, backend: openvino"),
            "p.yaml:5: method 'dynamic_int8' runs on onnxruntime, not on backend 'openvino'",
        ),
        (
            GOOD.replace("per_channel: true", "backend: tflite"),
            "p.yaml:5: field 'graphs.encoder.backend' is 'tflite'; allowed: onnxruntime, openvino",
        ),
        (GOOD + "colour: red\n", "p.yaml:9: unknown field 'colour'"),
        (GOOD.replace("description: d\n", ""), "p.yaml:1: missing required field 'description'"),
        (GOOD.replace("name: p", "name: q"), "p.yaml:1: field 'name' is 'q' but the file is p.yaml"),
        (GOOD.replace("  decoder:\n", "  decoder: [\n"), "p.yaml:"),
        (GOOD.replace("per_channel: true", "per_channel: yes please"), "field 'graphs.encoder.per_channel' must be"),
    ],
)
def test_bad_profile_is_one_clear_line(tmp_path, text, needle):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(EdgeASRError) as err:
        load_profile(path)
    msg = str(err.value)
    assert "\n" not in msg and needle in msg, msg


def test_unknown_profile_name_lists_the_shipped_ones():
    with pytest.raises(EdgeASRError, match="ort-fp32"):
        load_profile("ort-int3")


def test_bad_profile_through_the_cli(tmp_path, capsys):
    from edgeasr.runtime.cli import main

    (tmp_path / "p.yaml").write_text(GOOD.replace("bits: 4", "bits: 5"))
    rc = main(["build", "--model", "tiny.en", "--profile", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "p.yaml:8" in err
    assert not (tmp_path / "o").exists()
