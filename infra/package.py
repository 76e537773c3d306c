"""`make package`: the deployable SAM template and code bundle for one stage, linted.

    python infra/package.py [--stage dev] [--out build] [--arch arm64|x86_64] [--offline]
                            [--bytecode-python PATH] [--no-lint]

The bundle is built for the target in infra/template.yaml (`Globals.Function.Runtime`, e.g.
python3.13; `Parameters.Architecture`, arm64 unless --arch says x86_64), whatever Python runs
this (3.11+): Chalice would take the runtime from the packaging Python and download wheels for it.

1. Wheels: `pip download -r requirements.txt --only-binary=:all: --implementation cp
   --python-version 3.13 --abi cp313 --abi abi3 --abi none --platform manylinux_2_34_aarch64 …
   --platform manylinux2014_aarch64` into a wheelhouse cached per target and requirements
   (~/.cache/rebound/wheels/); then `pip install --no-index --target` from it, with the same target
   options, into the staged project's vendor/ folder. Only that first download needs PyPI;
   --offline refuses instead (exit 3) when the wheelhouse is not there yet.
2. `chalice package --stage STAGE --merge-template infra/template.yaml OUT` on a staged copy of
   the project (app.py and chalicelib/ linked, .chalice/*.json copied, vendor/ as above, no
   requirements.txt: Chalice only zips; it downloads nothing).
3. Pins the template's `Stage` parameter to STAGE (Chalice's functions are named and configured
   for one stage, `.chalice/config.json`) and its `Architecture` parameter to the bundle's, and
   removes each function's Runtime and Architectures, which Chalice takes from the packaging
   Python: the template's Globals say them. Writes YAML without aliases (CloudFormation refuses
   them).
4. Refuses the bundle (exit 1, naming each offender) when a pinned requirement is missing, a
   distribution in it is not pinned in requirements.txt, a wheel's tags do not fit the target
   (cp313 or abi3 or pure Python; manylinux for the target's processor, glibc <= the runtime's),
   a shared library is not an ELF file for the target's processor, or the unzipped code passes
   Lambda's 250 MB.
5. Adds compiled bytecode for every module of the bundle, compiled by a CPython of the runtime's
   version (--bytecode-python, else `python3.13` on PATH, else pyenv's): Lambda's /var/task is
   read-only, so without it Python compiles every module it imports from the bundle on every cold
   start, and throws the result away. The .pyc files are hash-based and unchecked (PEP 552): the
   zip's timestamps cannot invalidate them. Without such an interpreter the bundle has no
   bytecode and the step says so.
6. `cfn-lint` on OUT/sam.yaml: exits non-zero on any error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.tags import Tag, compatible_tags, cpython_tags, parse_tag

PROJECT = Path(__file__).resolve().parent.parent
MERGE_TEMPLATE = PROJECT / "infra" / "template.yaml"
REQUIREMENTS = PROJECT / "requirements.txt"
ARTIFACTS = ("sam.yaml", "sam.json", "deployment.zip")
# cfn-lint findings we accept, each for a stated reason (docs/operations.md, "Template lint").
IGNORED_CHECKS: dict[str, str] = {}
# Wheels downloaded for a target, kept across builds and clones: only the first build needs PyPI.
WHEEL_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rebound" / "wheels"
)
# Lambda's quota for a function's code unzipped, layers included (250 MB).
UNZIPPED_LIMIT = 262_144_000
# glibc of the Amazon Linux under each Lambda Python runtime: 2023's is 2.34 (AL2's was 2.26).
RUNTIME_GLIBC: dict[str, tuple[int, int]] = {
    "python3.12": (2, 34),
    "python3.13": (2, 34),
    "python3.14": (2, 34),
}
# Lambda's architecture names, the machine names of wheel tags, and ELF e_machine codes.
MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}
ELF_MACHINES = {0xB7: "aarch64", 0x3E: "x86_64", 0x03: "i386", 0x28: "arm"}
OFFLINE_EXIT = 3


@dataclass(frozen=True)
class Target:
    """The Lambda runtime and architecture a bundle is built for."""

    runtime: str  # python3.13
    architecture: str  # arm64 | x86_64

    @property
    def version(self) -> tuple[int, int]:
        match = re.fullmatch(r"python(\d+)\.(\d+)", self.runtime)
        if not match:
            raise ValueError(f"not a Lambda Python runtime: {self.runtime!r}")
        return int(match.group(1)), int(match.group(2))

    @property
    def abi(self) -> str:
        return "cp{}{}".format(*self.version)

    @property
    def machine(self) -> str:
        return MACHINES[self.architecture]

    def platforms(self) -> list[str]:
        """Every manylinux tag the runtime's glibc runs, newest first: pip treats each --platform
        literally, so each glibc minor is named."""
        major, newest = RUNTIME_GLIBC[self.runtime]
        tags = [f"manylinux_{major}_{minor}_{self.machine}" for minor in range(newest, 16, -1)]
        tags.append(f"manylinux2014_{self.machine}")
        if self.machine == "x86_64":  # the older manylinux tags exist for x86_64 only
            tags += [
                "manylinux_2_12_x86_64",
                "manylinux2010_x86_64",
                "manylinux_2_5_x86_64",
                "manylinux1_x86_64",
            ]
        return tags

    def tags(self) -> frozenset[Tag]:
        """The wheel tags this runtime installs: cp313-cp313, cp3x-abi3 (x <= 13), cp313-none and
        the pure-Python ones, each for the platforms above or `any`."""
        platforms = self.platforms()
        return frozenset(
            [
                *cpython_tags(self.version, abis=[self.abi], platforms=platforms),
                *compatible_tags(self.version, interpreter=self.abi, platforms=platforms),
            ]
        )

    def pip_options(self) -> list[str]:
        options = ["--only-binary=:all:", "--implementation", "cp"]
        options += ["--python-version", "{}.{}".format(*self.version)]
        for abi in (self.abi, "abi3", "none"):
            options += ["--abi", abi]
        for platform in self.platforms():
            options += ["--platform", platform]
        return options

    def describe(self) -> str:
        glibc = "{}.{}".format(*RUNTIME_GLIBC[self.runtime])
        return (
            f"{self.runtime} on {self.architecture} ({self.abi}, abi3 or pure Python; "
            f"manylinux {self.machine} up to glibc {glibc})"
        )


def target_from_template(template_path: Path, architecture: str | None = None) -> Target:
    """The runtime of the template's Globals and the architecture given, else its default."""
    doc = yaml.safe_load(template_path.read_text(encoding="utf-8"))
    runtime = doc["Globals"]["Function"]["Runtime"]
    parameter = doc["Parameters"]["Architecture"]
    architecture = architecture or parameter["Default"]
    if architecture not in parameter["AllowedValues"] or architecture not in MACHINES:
        raise ValueError(
            f"architecture {architecture!r}: {template_path.name} allows "
            f"{', '.join(parameter['AllowedValues'])}"
        )
    if runtime not in RUNTIME_GLIBC:
        raise ValueError(
            f"runtime {runtime!r}: package.py knows the glibc of {sorted(RUNTIME_GLIBC)}"
        )
    return Target(runtime, architecture)


class OfflineError(Exception):
    pass


def wheelhouse(
    target: Target, requirements: Path, *, offline: bool = False, cache: Path = WHEEL_CACHE
) -> Path:
    """A folder of the wheels requirements.txt needs on the target, downloaded once per target
    and set of requirements (comments aside); pip resolves for the target's tags."""
    options = target.pip_options()
    pins = [line.split("#", 1)[0].strip() for line in requirements.read_text("utf-8").splitlines()]
    digest = hashlib.sha256("\n".join([*filter(None, pins), *options]).encode()).hexdigest()
    house = cache / f"{target.runtime}-{target.architecture}-{digest[:16]}"
    if (house / ".complete").exists():
        return house
    if offline:
        raise OfflineError(
            f"no wheels downloaded yet for {target.runtime} {target.architecture} and this "
            f"requirements.txt ({house}): run `make package` once with PyPI in reach"
        )
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=cache))
    try:
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check"),
                *("-r", str(requirements), "--dest", str(staging), *options),
            ],
            check=True,
        )
        (staging / ".complete").write_text(" ".join(options) + "\n", encoding="utf-8")
        shutil.rmtree(house, ignore_errors=True)
        staging.rename(house)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return house


def install_wheels(house: Path, target: Target, requirements: Path, dest: Path) -> None:
    """`pip install --target` from the wheelhouse alone: what Lambda's site-packages would hold."""
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"),
            *("--no-index", "--find-links", str(house), "--no-compile", "--target", str(dest)),
            *target.pip_options(),
            *("-r", str(requirements)),
        ],
        check=True,
    )
    shutil.rmtree(dest / "bin", ignore_errors=True)  # console scripts: nothing runs them


def stage_project(root: Path) -> Path:
    """A project folder for Chalice: app.py and chalicelib/ linked, .chalice's settings and policy
    files copied, an empty vendor/ for the wheels, and no requirements.txt."""
    project = root / "project"
    (project / ".chalice").mkdir(parents=True)
    (project / "vendor").mkdir()
    for name in ("app.py", "chalicelib"):
        (project / name).symlink_to(PROJECT / name)
    for settings in sorted((PROJECT / ".chalice").glob("*.json")):
        shutil.copy2(settings, project / ".chalice" / settings.name)
    return project


def chalice_package(stage: str, out: Path, project: Path = PROJECT) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACTS:  # a stale zip or template must never be deployed by mistake
        (out / name).unlink(missing_ok=True)
    env = dict(os.environ)
    # app.py computes resource names at import; import it as the stage it is packaged for.
    env["REBOUND_STAGE"] = stage
    # Chalice needs a region to name service principals; the template itself is region-free.
    env.setdefault("AWS_DEFAULT_REGION", env.get("AWS_REGION") or "us-east-1")
    env.pop("AWS_ENDPOINT_URL", None)
    subprocess.run(
        [
            tool("chalice"),
            "--project-dir",
            str(project),
            "package",
            "--stage",
            stage,
            "--merge-template",
            str(MERGE_TEMPLATE),
            str(out),
        ],
        check=True,
        env=env,
    )
    return out / "sam.yaml"


def tool(name: str) -> str:
    """A console script of this interpreter's environment (the project's .venv)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def pin(template: dict[str, Any], stage: str, target: Target) -> dict[str, Any]:
    """The Stage and Architecture parameters accept only what was packaged; the functions take
    their runtime and architecture from the Globals alone."""
    parameter = template["Parameters"]["Stage"]
    parameter["Default"] = stage
    parameter["AllowedValues"] = [stage]
    parameter["Description"] = (
        f"Packaged for the Chalice stage {stage!r}: resource names and function settings "
        "must agree, so no other value is accepted."
    )
    parameter = template["Parameters"]["Architecture"]
    parameter["Default"] = target.architecture
    parameter["AllowedValues"] = [target.architecture]
    parameter["Description"] = (
        f"Packaged for {target.architecture}: the bundle's compiled wheels run on this processor "
        "only, so no other value is accepted (`make package ARCH=...` builds for the other)."
    )
    function = template["Globals"]["Function"]
    if function.get("Runtime") != target.runtime:
        raise ValueError(
            f"the template's Globals say {function.get('Runtime')}, not {target.runtime}"
        )
    for resource in template["Resources"].values():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"].pop("Runtime", None)  # Chalice's: the packaging Python's
            resource["Properties"].pop("Architectures", None)
    return template


def write_template(template_path: Path, template: dict[str, Any]) -> None:
    template_path.write_text(
        yaml.dump(template, Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=1000),
        encoding="utf-8",
    )


def check_event_sources(template: dict[str, Any], stage: str) -> list[str]:
    """Chalice writes each subscription's ARN from the name app.py computed when imported: a
    stream or queue of another stage means app.py was imported with the wrong REBOUND_STAGE."""
    problems = []
    for name, resource in template["Resources"].items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event_name, event in (resource["Properties"].get("Events") or {}).items():
            arn = (event.get("Properties") or {}).get("Stream") or (
                event.get("Properties") or {}
            ).get("Queue")
            text = arn.get("Fn::Sub", "") if isinstance(arn, dict) else str(arn or "")
            if arn is not None and f":rebound-{stage}-" not in text.replace("stream/", ":"):
                problems.append(f"{name}.{event_name} subscribes to {text}, not a {stage} resource")
    return problems


def lint(template_path: Path) -> int:
    """cfn-lint's exit code: a bit mask, 2 = errors, 4 = warnings, 8 = informational."""
    args = [tool("cfn-lint"), "--format", "parseable"]
    if IGNORED_CHECKS:
        args += ["--ignore-checks", *IGNORED_CHECKS]
    result = subprocess.run([*args, "--", str(template_path)], check=False)
    return result.returncode


def _dist_name(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def missing_requirements(
    bundle: Path, requirements: Path = PROJECT / "requirements.txt"
) -> list[str]:
    """The pinned requirements (``name==version``) that have no ``.dist-info`` in ``bundle``."""
    pinned = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = (part.strip() for part in line.split("==", 1))
            pinned.append((name, version))
    with zipfile.ZipFile(bundle) as zf:
        found = {
            _dist_name(top.removesuffix(".dist-info"))
            for top in {n.split("/", 1)[0] for n in zf.namelist()}
            if top.endswith(".dist-info")
        }
    return [
        f"{name}=={version}"
        for name, version in pinned
        if f"{_dist_name(name)}_{_dist_name(version)}" not in found
    ]


def _distributions(zf: zipfile.ZipFile) -> list[str]:
    """The ``name-version.dist-info`` folders at the top of a bundle."""
    return sorted(
        {top for top in (n.split("/", 1)[0] for n in zf.namelist()) if top.endswith(".dist-info")}
    )


def unpinned_distributions(
    bundle: Path, requirements: Path = PROJECT / "requirements.txt"
) -> list[str]:
    """Distributions in the bundle that requirements.txt does not pin (``==``): each must be, so
    that the bundle and the local environment hold the same versions."""
    pinned = set()
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = (part.strip() for part in line.split("==", 1))
            pinned.add(f"{_dist_name(name)}_{_dist_name(version)}")
    with zipfile.ZipFile(bundle) as zf:
        found = _distributions(zf)
    return [
        info.removesuffix(".dist-info").replace("-", " ", 1)
        for info in found
        if _dist_name(info.removesuffix(".dist-info")) not in pinned
    ]


def _elf_machine(head: bytes) -> str | None:
    """The processor an ELF file is for, from its header; None when it is not ELF."""
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    code = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return ELF_MACHINES.get(code, f"ELF machine {code:#x}")


def wrong_binaries(bundle: Path, target: Target) -> list[str]:
    """What in the bundle would not load on the target: a wheel whose tags (its ``.dist-info/
    WHEEL``) fit none of the target's, a distribution without that record, a shared library that
    is not an ELF file for the target's processor, an extension module named for another CPython.
    Each names the offender."""
    accepted = target.tags()
    problems = []
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        for info in _distributions(zf):
            dist = info.removesuffix(".dist-info")
            if f"{info}/WHEEL" not in names:
                problems.append(f"{dist}: no {info}/WHEEL, so its tags cannot be checked")
                continue
            record = zf.read(f"{info}/WHEEL").decode("utf-8", "replace")
            tags = [
                tag
                for line in record.splitlines()
                if line.startswith("Tag:")
                for tag in parse_tag(line.removeprefix("Tag:").strip())
            ]
            if not accepted.intersection(tags):
                built = ", ".join(sorted(str(tag) for tag in tags)) or "no tag"
                problems.append(f"{dist} is built for {built}, not for {target.describe()}")
        for name in sorted(names):
            if not re.search(r"\.so(\.\d+)*$", name):
                continue
            with zf.open(name) as handle:
                machine = _elf_machine(handle.read(20))
            if machine is None:
                problems.append(f"{name} is not an ELF shared library")
            elif machine != target.machine:
                problems.append(f"{name} is compiled for {machine}, not for {target.machine}")
            extension = re.search(r"\.cpython-(\d)(\d+)-", name.rsplit("/", 1)[-1])
            if extension and (int(extension.group(1)), int(extension.group(2))) != target.version:
                problems.append(
                    f"{name} is an extension for CPython {extension.group(1)}.{extension.group(2)}"
                    f", not {'{}.{}'.format(*target.version)}"
                )
    return problems


def unzipped_size(bundle: Path) -> int:
    with zipfile.ZipFile(bundle) as zf:
        return sum(info.file_size for info in zf.infolist())


def bytecode_python(target: Target, given: str | None = None) -> str | None:
    """A CPython of the runtime's version to compile the bundle's bytecode with: the one given
    (which must be that version), else ``python3.13`` on PATH, else pyenv's. None if none."""
    version = "{}.{}".format(*target.version)
    if given:
        candidates = [given]
    else:
        pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
        candidates = [
            shutil.which(f"python{version}") or "",
            *(str(p) for p in sorted(pyenv.glob(f"{version}.*/bin/python{version}"), reverse=True)),
        ]
    for candidate in filter(None, candidates):
        try:
            found = subprocess.run(
                [
                    candidate,
                    "-I",
                    "-c",
                    "import sys; print(sys.implementation.name, *sys.version_info[:2])",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout.split()
        except (OSError, subprocess.SubprocessError):
            found = []
        if found == ["cpython", *map(str, target.version)]:
            return candidate
        if given:
            raise ValueError(f"--bytecode-python {given}: not a CPython {version}")
    return None


# Run by the bytecode Python: compile each (source, cfile, dfile) read from stdin, print the tag.
_COMPILE = """
import json, py_compile, sys
for source, cfile, dfile in json.load(sys.stdin):
    try:
        py_compile.compile(source, cfile=cfile, dfile=dfile, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except py_compile.PyCompileError:
        pass  # never importable on this runtime anyway (e.g. a Python 2 example)
print(sys.implementation.cache_tag)
"""


def precompile(bundle: Path, python: str) -> tuple[int, str]:
    """Put ``__pycache__/<module>.<tag>.pyc`` beside every ``.py`` of the zip that compiles, by
    ``python`` (a CPython of the Lambda runtime's version), except in test folders, which nothing
    imports. Whatever ``__pycache__`` the zip had goes: Chalice copies chalicelib's from the
    working tree, timestamped bytecode of the packaging Python that the zip's 1980 dates make
    stale (and some for modules that no longer exist). Entries keep their order, dates and
    permissions; the bytecode names /var/task paths, as Lambda runs them. Returns the number of
    modules compiled and the interpreter's cache tag."""
    with zipfile.ZipFile(bundle) as zf:
        entries = [
            (info, zf.read(info))
            for info in zf.infolist()
            if "__pycache__/" not in f"/{info.filename}"
        ]
    compiled: list[tuple[zipfile.ZipInfo, bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        jobs = []
        for number, (info, data) in enumerate(entries):
            folder, _, module = info.filename.rpartition("/")
            if not module.endswith(".py") or {"tests", "testing"} & set(folder.split("/")):
                continue
            source = Path(tmp) / f"{number}.py"
            source.write_bytes(data)
            jobs.append((info, source, Path(tmp) / f"{number}.pyc"))
        tag = subprocess.run(
            [python, "-I", "-c", _COMPILE],
            input=json.dumps(
                [[str(s), str(c), f"/var/task/{info.filename}"] for info, s, c in jobs]
            ),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for info, _, cfile in jobs:
            if not cfile.exists():
                continue
            folder, _, module = info.filename.rpartition("/")
            target = f"{folder}/__pycache__/{module[:-3]}.{tag}.pyc".lstrip("/")
            entry = zipfile.ZipInfo(target, date_time=info.date_time)
            entry.external_attr = info.external_attr
            entry.compress_type = zipfile.ZIP_DEFLATED
            compiled.append((entry, cfile.read_bytes()))
    staged = bundle.with_suffix(".zip.tmp")
    with zipfile.ZipFile(staged, "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in [*entries, *compiled]:
            out.writestr(info, data)
    staged.replace(bundle)
    return len(compiled), tag


def check_bundle(bundle: Path, target: Target, requirements: Path = REQUIREMENTS) -> list[str]:
    """Every reason the bundle must not be deployed on the target."""
    problems = []
    missing = missing_requirements(bundle, requirements)
    if missing:
        problems.append(
            f"the bundle lacks {', '.join(missing)}: no wheel for {target.describe()}; "
            "pin a release that has one in requirements.txt"
        )
    problems += [
        f"{dist} is in the bundle but not pinned in requirements.txt: pin it, so that the "
        "bundle and the local environment hold the same version"
        for dist in unpinned_distributions(bundle, requirements)
    ]
    problems += wrong_binaries(bundle, target)
    size = unzipped_size(bundle)
    if size > UNZIPPED_LIMIT:
        problems.append(f"the bundle unzips to {size / 1e6:.0f} MB: Lambda takes 262 MB at most")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, default=PROJECT / "build")
    parser.add_argument("--arch", choices=sorted(MACHINES), help="default: the template's")
    parser.add_argument("--offline", action="store_true", help="use downloaded wheels only")
    parser.add_argument("--bytecode-python", help="a CPython of the runtime's version")
    parser.add_argument("--no-lint", action="store_true")
    args = parser.parse_args(argv)
    args.out = args.out.resolve()  # Chalice runs in the staged project: not relative to it
    target = target_from_template(MERGE_TEMPLATE, args.arch)
    print(f"packaging stage {args.stage} for {target.describe()}")
    try:
        house = wheelhouse(target, REQUIREMENTS, offline=args.offline)
    except OfflineError as error:
        print(error, file=sys.stderr)
        return OFFLINE_EXIT
    with tempfile.TemporaryDirectory(prefix="rebound-package-") as tmp:
        project = stage_project(Path(tmp))
        install_wheels(house, target, REQUIREMENTS, project / "vendor")
        template_path = chalice_package(args.stage, args.out, project)
    template = yaml.safe_load(template_path.read_text(encoding="utf-8"))
    write_template(template_path, pin(template, args.stage, target))
    bundle = args.out / "deployment.zip"
    problems = check_event_sources(template, args.stage) + check_bundle(bundle, target)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(
        f"every wheel and shared library of the bundle fits {target.runtime} {target.architecture}"
    )
    python = bytecode_python(target, args.bytecode_python)
    if python:
        count, tag = precompile(bundle, python)
        print(f"bytecode for {count} modules added to the bundle ({tag}, by {python})")
    else:
        print(
            f"no CPython {'{}.{}'.format(*target.version)} here (--bytecode-python, "
            f"python{'{}.{}'.format(*target.version)} on PATH, or pyenv's): the bundle has no "
            "bytecode, and each cold start compiles the modules it imports",
            file=sys.stderr,
        )
    print(f"packaged stage {args.stage}: {template_path} and {bundle}")
    if args.no_lint:
        return 0
    code = lint(template_path)
    if code & 2:
        print("cfn-lint found errors", file=sys.stderr)
        return 1
    print("cfn-lint: no errors" + (" (warnings above)" if code & 4 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
