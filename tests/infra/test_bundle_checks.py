"""infra/package.py's refusals, on made-up bundles: no network, no Chalice, no pip.

A bundle is refused when a wheel in it is tagged for another CPython, processor or glibc than the
target's (python3.13 on Amazon Linux 2023: cp313 or abi3 or pure Python, manylinux up to glibc
2.34), when a shared library is not an ELF file for the target's processor, or when it holds a
distribution requirements.txt does not pin. Each refusal names the offender.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from tests.infra.templates import PROJECT

sys.path.insert(0, str(PROJECT / "infra"))
try:
    import package
finally:
    sys.path.pop(0)

ARM = package.Target("python3.13", "arm64")
X86 = package.Target("python3.13", "x86_64")


def elf(machine: int) -> bytes:
    """The first bytes of a 64-bit little-endian ELF shared object for ``machine``."""
    return b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x03\x00" + machine.to_bytes(2, "little")


AARCH64, X86_64 = 0xB7, 0x3E


def bundle(
    tmp_path: Path, wheels: dict[str, list[str]], files: dict[str, bytes] | None = None
) -> Path:
    """A zip with one ``name-version.dist-info/WHEEL`` per entry of ``wheels`` (its Tag lines),
    plus ``files``."""
    path = tmp_path / "deployment.zip"
    files = files or {}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("app.py", "")
        for dist, tags in wheels.items():
            record = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
            zf.writestr(f"{dist}.dist-info/WHEEL", record + "".join(f"Tag: {t}\n" for t in tags))
            zf.writestr(f"{dist}.dist-info/METADATA", "")
        for name, data in files.items():
            zf.writestr(name, data)
    return path


FITTING = {
    "numpy-2.4.6": ["cp313-cp313-manylinux_2_27_aarch64", "cp313-cp313-manylinux_2_28_aarch64"],
    "duckdb-2.0.1": ["cp312-abi3-manylinux_2_26_aarch64", "cp312-abi3-manylinux_2_28_aarch64"],
    "pyahocorasick-2.3.1": ["cp313-cp313-manylinux2014_aarch64"],
    "ua_parser_rs-0.1.5": ["cp310-abi3-manylinux_2_17_aarch64"],
    "six-1.17.0": ["py2-none-any", "py3-none-any"],
}


def test_a_bundle_of_wheels_for_the_target_passes(tmp_path):
    files = {
        "numpy/_core/_multiarray_umath.cpython-313-aarch64-linux-gnu.so": elf(AARCH64),
        "_duckdb.abi3.so": elf(AARCH64),
        "numpy.libs/libgfortran-daac5196.so.5.0.0": elf(AARCH64),
    }
    assert package.wrong_binaries(bundle(tmp_path, FITTING, files), ARM) == []


@pytest.mark.parametrize(
    ("tag", "why"),
    [
        ("cp311-cp311-manylinux_2_17_aarch64", "another CPython"),
        ("cp313-cp313-manylinux_2_17_x86_64", "another processor"),
        ("cp313-cp313-manylinux_2_39_aarch64", "a newer glibc than Amazon Linux 2023's 2.34"),
        ("cp313-cp313-musllinux_1_2_aarch64", "musl, not glibc"),
        ("cp313-cp313t-manylinux_2_17_aarch64", "the free-threaded build"),
        ("cp314-abi3-manylinux_2_17_aarch64", "a stable ABI newer than 3.13"),
        ("cp313-cp313-macosx_11_0_arm64", "another OS"),
    ],
)
def test_a_wheel_tagged_for_another_target_is_refused_by_name(tmp_path, tag, why):
    wheels = {**FITTING, "duckdb-2.0.1": [tag]}
    problems = package.wrong_binaries(bundle(tmp_path, wheels), ARM)
    assert problems == [
        f"duckdb-2.0.1 is built for {tag}, not for python3.13 on arm64 (cp313, abi3 or pure "
        "Python; manylinux aarch64 up to glibc 2.34)"
    ], why


def test_the_x86_64_target_takes_x86_64_wheels_and_refuses_aarch64_ones(tmp_path):
    wheels = {
        "numpy-2.4.6": ["cp313-cp313-manylinux_2_28_x86_64"],
        "pyahocorasick-2.3.1": ["cp313-cp313-manylinux1_x86_64"],
        "duckdb-2.0.1": ["cp312-abi3-manylinux_2_28_aarch64"],
    }
    (problem,) = package.wrong_binaries(bundle(tmp_path, wheels), X86)
    assert problem.startswith("duckdb-2.0.1 is built for cp312-abi3-manylinux_2_28_aarch64")


def test_a_distribution_without_its_wheel_record_is_refused(tmp_path):
    path = bundle(tmp_path, {}, {"mystery-1.0.dist-info/METADATA": b""})
    assert package.wrong_binaries(path, ARM) == [
        "mystery-1.0: no mystery-1.0.dist-info/WHEEL, so its tags cannot be checked"
    ]


def test_a_shared_library_for_another_processor_or_cpython_is_refused_by_name(tmp_path):
    files = {
        # a "pure" wheel carrying a native library (vendored by hand, or a mislabelled wheel)
        "six_helper/_speedups.abi3.so": elf(X86_64),
        "numpy/_core/_simd.cpython-311-aarch64-linux-gnu.so": elf(AARCH64),
        "numpy.libs/libopenblas.so.0": b"not an ELF file at all",
    }
    problems = package.wrong_binaries(bundle(tmp_path, FITTING, files), ARM)
    assert problems == [
        "numpy.libs/libopenblas.so.0 is not an ELF shared library",
        "numpy/_core/_simd.cpython-311-aarch64-linux-gnu.so is an extension for CPython 3.11, "
        "not 3.13",
        "six_helper/_speedups.abi3.so is compiled for x86_64, not for aarch64",
    ]


def test_an_unpinned_distribution_and_a_missing_pin_are_refused(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy==2.4.6\nduckdb==2.0.1  # the rollup\n", encoding="utf-8")
    path = bundle(
        tmp_path,
        {"numpy-2.4.6": FITTING["numpy-2.4.6"], "six-1.17.0": FITTING["six-1.17.0"]},
    )
    problems = package.check_bundle(path, ARM, requirements)
    assert problems[0].startswith("the bundle lacks duckdb==2.0.1: no wheel for python3.13")
    assert problems[1].startswith("six 1.17.0 is in the bundle but not pinned in requirements.txt")
    assert len(problems) == 2


def test_the_target_is_the_templates_runtime_and_architecture():
    template = PROJECT / "infra" / "template.yaml"
    assert package.target_from_template(template) == ARM
    assert package.target_from_template(template, "x86_64") == X86
    with pytest.raises(ValueError, match="'ppc64le'"):
        package.target_from_template(template, "ppc64le")


def test_pip_is_asked_for_the_targets_wheels_whatever_python_runs_it():
    options = ARM.pip_options()
    assert options[:5] == [
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        "3.13",
    ]
    platforms = [options[i + 1] for i, o in enumerate(options) if o == "--platform"]
    assert platforms[0] == "manylinux_2_34_aarch64"
    assert platforms[-2:] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    assert [options[i + 1] for i, o in enumerate(options) if o == "--abi"] == [
        "cp313",
        "abi3",
        "none",
    ]


def test_the_wheel_cache_refuses_offline_when_it_has_nothing_for_the_target(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six==1.17.0\n", encoding="utf-8")
    with pytest.raises(package.OfflineError, match=r"python3\.13 arm64"):
        package.wheelhouse(ARM, requirements, offline=True, cache=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_packaging_pins_the_architecture_and_leaves_runtime_to_the_globals():
    template = {
        "Parameters": {
            "Stage": {"Type": "String", "Default": "dev"},
            "Architecture": {
                "Type": "String",
                "Default": "arm64",
                "AllowedValues": ["arm64", "x86_64"],
            },
        },
        "Globals": {
            "Function": {"Runtime": "python3.13", "Architectures": [{"Ref": "Architecture"}]}
        },
        "Resources": {
            "Fn::ForEach::Domains": ["Domain", [], {}],
            "Rollup": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Runtime": "python3.11",
                    "Architectures": ["x86_64"],
                    "Handler": "app.rollup",
                },
            },
        },
    }
    pinned = package.pin(template, "prod", X86)
    assert pinned["Parameters"]["Architecture"]["AllowedValues"] == ["x86_64"]
    assert pinned["Parameters"]["Stage"]["AllowedValues"] == ["prod"]
    assert pinned["Resources"]["Rollup"]["Properties"] == {"Handler": "app.rollup"}
    with pytest.raises(ValueError, match=r"python3\.13, not python3\.12"):
        package.pin(template, "prod", package.Target("python3.12", "arm64"))


def test_the_wheel_cache_is_kept_across_comment_edits_and_not_across_pins(tmp_path):
    cache = tmp_path / "cache"
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six==1.17.0\n", encoding="utf-8")
    with pytest.raises(package.OfflineError) as refused:
        package.wheelhouse(ARM, requirements, offline=True, cache=cache)
    house = Path(str(refused.value).split("(", 1)[1].split(")", 1)[0])
    house.mkdir(parents=True)
    (house / ".complete").write_text("", encoding="utf-8")
    requirements.write_text("# the SDK's helpers\nsix==1.17.0  # pinned\n", encoding="utf-8")
    assert package.wheelhouse(ARM, requirements, offline=True, cache=cache) == house
    requirements.write_text("six==1.16.0\n", encoding="utf-8")
    with pytest.raises(package.OfflineError):
        package.wheelhouse(ARM, requirements, offline=True, cache=cache)
    with pytest.raises(package.OfflineError):  # the same pins for the other processor
        package.wheelhouse(X86, requirements, offline=True, cache=cache)
