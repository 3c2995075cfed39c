"""Compile and inspect through Python: needs no GPU."""

import os
import re

import pytest

import attnres


def test_import_and_limits():
    assert attnres.max_sources == 64
    assert attnres.max_width == 16384
    assert isinstance(attnres.has_cpu, bool)
    assert issubclass(attnres.Error, RuntimeError)
    # available() answers (False here without a driver) and says why not.
    if not attnres.available():
        assert attnres.unavailable_reason() != ""


@pytest.mark.parametrize("dtype,direction", [("bf16", "forward"), ("f32", "backward"),
                                             ("f16", "forward")])
def test_compile_ptx_and_entries(dtype, direction):
    r = attnres.compile(8, 256, dtype, direction, arch="sm_90a")
    name = f"attnres_{'fwd' if direction == 'forward' else 'bwd'}_n8_d256_{dtype}"
    assert r.spec.name == name
    assert f".entry {name}" in r.ptx
    assert ".target sm_90a" in r.ptx
    assert r.entries[0]["name"] == name and r.entries[0]["threads"] > 0
    if direction == "backward":
        assert [e["name"] for e in r.entries] == [name, name + "_reduce"]
    assert "gpu.module" in r.kernel_ir
    if attnres.find_ptxas():
        assert r.ptxas_error == ""
        reported = {x["entry"]: x for x in r.resources}
        assert set(reported) == {e["name"] for e in r.entries}
        assert all(x["registers"] > 0 and x["spill_store_bytes"] >= 0
                   for x in reported.values())
    else:
        assert r.resources == [] and "ptxas" in r.ptxas_error


def test_cache_location_and_hits(tmp_path):
    previous = attnres.cache_dir()
    attnres.set_cache_dir(str(tmp_path))
    try:
        first = attnres.compile(3, 100, "f32", ptxas=False)
        again = attnres.compile(3, 100, "f32", ptxas=False)
        assert first.origin == "compiler" and again.origin == "memory"
        assert first.cache_dir.startswith(str(tmp_path))
        assert os.path.isfile(os.path.join(first.cache_dir, "kernel.ptx"))
        assert first.cache_key == again.cache_key and len(first.cache_key) == 64
        attnres.clear_memory_cache()
        assert attnres.compile(3, 100, "f32", ptxas=False).origin == "disk"
    finally:
        attnres.set_cache_dir(previous)


def test_kernel_forms_in_the_metadata():
    # The backward tile in shared memory, and split over a cluster on sm_90a.
    # One tile (stages=1) is dh and the 16 rows of 2048 bf16.
    smem = attnres.compile(16, 2048, "bf16", "backward", arch="sm_90a", ptxas=False,
                           tuning=attnres.Tuning(form="smem", stages=1))
    assert smem.entries[0]["dynamic_shared_bytes"] == 17 * 2048 * 2
    assert smem.entries[0]["cluster_size"] == 1
    assert smem.entries[0]["layout"] == "smem ring=17"
    cluster = attnres.compile(32, 8192, "bf16", "backward", arch="sm_90a", ptxas=False,
                              tuning=attnres.Tuning(form="cluster", cluster=4, stages=1))
    assert cluster.entries[0]["cluster_size"] == 4
    assert cluster.entries[0]["layout"] == "cluster=4 ring=33"
    assert ".reqnctapercluster 4" in cluster.ptx
    online = attnres.compile(8, 4096, "bf16", "forward", arch="sm_90a", ptxas=False,
                             tuning=attnres.Tuning(form="online", rows=2))
    assert online.spec.tuning.form == "online" and online.spec.tuning.rows == 2
    # The ring in shared memory: two rows a group, the slots by heuristic.
    assert online.entries[0]["layout"].startswith("online rows=2 stages=")
    assert online.entries[0]["dynamic_shared_bytes"] > 0
    registers = attnres.compile(8, 4096, "bf16", "forward", arch="sm_90a", ptxas=False,
                                tuning=attnres.Tuning(form="online", rows=2, stages=1))
    assert registers.entries[0]["layout"] == "online rows=2 stages=1"
    assert registers.entries[0]["dynamic_shared_bytes"] == 0
    with pytest.raises((ValueError, attnres.Error), match="form"):
        attnres.compile(8, 4096, "bf16", "forward", ptxas=False,
                        tuning=attnres.Tuning(form="tiled"))


def test_ir_stages():
    stages = attnres.ir_stages(3, 64, "bf16", "backward", arch="sm_90a")
    passes = [p for p, _ in stages]
    assert passes[0] == "input" and "attnres.backward" in stages[0][1]
    assert "attnres-lower-to-gpu" in passes
    assert passes[-1] == "gpu-module-to-binary"
    assert "gpu.binary" in stages[-1][1]
    # Every stage is a whole module (after any attribute aliases such as
    # #loop_annotation), and the pipeline changes it on the way.
    assert all(re.search(r"^module\b", ir, re.M) for _, ir in stages[1:])
    assert len({ir for _, ir in stages}) > len(stages) // 2


def test_spec_fields():
    spec = attnres.KernelSpec(17, 896, dtype="f16", direction="backward", arch="sm_80",
                              eps=1e-5, tuning=attnres.Tuning(threads=128))
    assert (spec.n, spec.d, spec.dtype, spec.direction, spec.arch) == \
        (17, 896, "f16", "backward", "sm_80")
    assert spec.tuning.threads == 128
    assert "attnres.backward" in spec.program


@pytest.mark.parametrize("kwargs,message", [
    (dict(n=0, d=64), "N (number of sources)"),
    (dict(n=65, d=64), "N (number of sources)"),
    (dict(n=2, d=16385), "D"),
    (dict(n=2, d=64, eps=-1.0), "eps"),
    (dict(n=2, d=64, arch="sm_70"), "arch"),
])
def test_bad_specs_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        attnres.compile(**kwargs)


def test_bad_dtype_and_direction():
    with pytest.raises(ValueError, match="unknown dtype 'f64'"):
        attnres.compile(2, 64, "f64")
    with pytest.raises(ValueError, match="unknown direction"):
        attnres.compile(2, 64, "bf16", "sideways")


def test_runtime_refuses_bad_pointers_with_attnres_error():
    # Argument checks run before the driver is touched, GPU or not.
    sources = attnres.Sources.stacked(0, 3)
    with pytest.raises(attnres.Error, match="null pointer") as info:
        attnres.forward(sources, 0, 0, 0, 0, 0, 5, 64, "f32", 1e-6, 0)
    assert info.value.kind == "invalid argument"
    assert attnres.Sources.list([16, 32]).count == 2
