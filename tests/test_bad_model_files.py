"""Bad model files: truncated or corrupt ONNX, missing or short external data, paths that
leave the folder, pickle checkpoints. Each is a one-line ModelError (exit 2 from the CLI)."""

import json

import pytest

from conftest import run_cli
from harness.errors import ModelError
from harness.models import check_onnx_folder, refuse_pickle, resolve
from harness.specs import ModelSpec

onnx = pytest.importorskip("onnx")


def make_folder(tmp_path, location="model.onnx.data"):
    """A tiny ONNX model whose weight lives in an external data file, as the builder does."""
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np

    folder = tmp_path / "m"
    folder.mkdir()
    w = numpy_helper.from_array(np.arange(4096, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4096])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4096])], [w])
    model = helper.make_model(graph)
    onnx.save_model(model, str(folder / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=0)
    if location != "model.onnx.data":
        m = onnx.load(str(folder / "model.onnx"), load_external_data=False)
        for e in m.graph.initializer[0].external_data:
            if e.key == "location":
                e.value = location
        onnx.save_model(m, str(folder / "model.onnx"))
    (folder / "genai_config.json").write_text(json.dumps({"model": {"decoder": {"filename": "model.onnx"}}}))
    return folder


def spec(folder):
    return ModelSpec(id="m", format="onnx", source={"kind": "path", "path": str(folder)})


def test_complete_folder_passes_and_has_a_stable_digest(tmp_path):
    folder = make_folder(tmp_path)
    assert check_onnx_folder(folder).name == "model.onnx"
    assert resolve(spec(folder), tmp_path)[1] == resolve(spec(folder), tmp_path)[1]


def test_missing_external_data(tmp_path):
    folder = make_folder(tmp_path)
    (folder / "model.onnx.data").unlink()
    with pytest.raises(ModelError, match="external data file 'model.onnx.data' is missing"):
        check_onnx_folder(folder)


def test_truncated_external_data(tmp_path):
    folder = make_folder(tmp_path)
    data = folder / "model.onnx.data"
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(ModelError, match="external data file is truncated"):
        check_onnx_folder(folder)


def test_truncated_or_corrupt_model_file(tmp_path):
    folder = make_folder(tmp_path)
    model = folder / "model.onnx"
    model.write_bytes(model.read_bytes()[:40])
    with pytest.raises(ModelError, match="corrupt or truncated ONNX file"):
        check_onnx_folder(folder)


def test_external_data_path_outside_the_folder_is_refused(tmp_path):
    folder = make_folder(tmp_path, location="../../etc/passwd")
    with pytest.raises(ModelError, match="refusing path '../../etc/passwd' outside the model folder"):
        check_onnx_folder(folder)


def test_not_a_genai_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no genai_config.json"):
        check_onnx_folder(tmp_path / "empty")


@pytest.mark.parametrize("name, head", [("model.pt", b"\x80\x02"), ("model.gguf", b"\x80\x04\x95")])
def test_pickle_checkpoints_are_refused(tmp_path, name, head):
    (tmp_path / name).write_bytes(head + b"\0" * 64)
    with pytest.raises(ModelError, match="refusing a pickle checkpoint"):
        refuse_pickle(tmp_path / name)


def test_torch_zip_checkpoint_is_refused_but_other_files_are_not(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "model.bin", "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    with pytest.raises(ModelError, match="refusing a pickle checkpoint"):
        refuse_pickle(tmp_path / "model.bin")
    (tmp_path / "weights.bin").write_bytes(b"GGUF" + b"\0" * 64)
    refuse_pickle(tmp_path / "weights.bin")  # a .bin name alone is no reason


def test_cli_broken_onnx_folder_is_exit_2_one_line(project, tmp_path):
    folder = make_folder(tmp_path)
    (folder / "model.onnx.data").unlink()
    r = run_cli("run", "-m", str(folder), "-b", "onnxruntime", "--tasks", "none",
                "--out", str(project / "out"))
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "is missing" in r.stderr
    assert not (project / "out").exists()


def test_cli_onnx_model_with_a_gguf_backend_is_refused(project, tmp_path):
    folder = make_folder(tmp_path)
    r = run_cli("run", "-m", str(folder), "-b", "llama_cpp", "--tasks", "none")
    assert r.returncode == 2 and "reads GGUF files" in r.stderr


def test_cli_pickle_model_is_refused(project):
    (project / "model.bin").write_bytes(b"\x80\x02}q\x00.")
    r = run_cli("run", "-m", str(project / "model.bin"), "-b", "fake", "--tasks", "none")
    assert r.returncode == 2 and "refusing a pickle checkpoint" in r.stderr


def test_a_gguf_array_claiming_2_61_elements_is_refused_at_once(tmp_path):
    """gguf-py iterates metadata arrays element by element: a header claiming 2^61 token
    types hung `run --dry-run` for ever. The bounded walk refuses it in milliseconds."""
    import struct
    import time

    from harness.errors import ModelError
    from harness.models import check_gguf_header

    key = b"tokenizer.ggml.token_type"
    path = tmp_path / "evil.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1, 1) + struct.pack("<Q", len(key)) + key
                     + struct.pack("<IIQ", 9, 5, 2**61) + b"\0" * 4096)
    t = time.monotonic()
    with pytest.raises(ModelError, match="claims 2305843009213693952 elements"):
        check_gguf_header(path)
    assert time.monotonic() - t < 5
    strings = tmp_path / "strings.gguf"  # an array of strings whose lengths overrun
    strings.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1, 1) + struct.pack("<Q", 3) + b"k.s"
                        + struct.pack("<IIQ", 9, 8, 2) + struct.pack("<Q", 10**12))
    with pytest.raises(ModelError, match="corrupt GGUF header"):
        check_gguf_header(strings)
