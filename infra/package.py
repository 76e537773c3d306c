"""`make package`: the deployable SAM template and code bundle for one stage, linted.

    python infra/package.py [--stage dev] [--out build] [--no-lint]

1. `chalice package --stage STAGE --merge-template infra/template.yaml OUT` (Chalice downloads
   manylinux wheels for the bundle; it caches them under .chalice/deployments/).
2. Pins the template's `Stage` parameter to STAGE: Chalice's functions are named and configured
   for one stage (`.chalice/config.json`), so the resources must be too. Writes YAML without
   aliases, which CloudFormation refuses.
3. Checks that the bundle holds every requirement of requirements.txt at its pinned version:
   `chalice package` only warns when no wheel suits the Lambda runtime, and leaves it out.
4. Adds compiled bytecode for every module of the bundle: Lambda's /var/task is read-only, so
   without it Python compiles every module it imports from the bundle (ours, ua-parser's, the
   crawler list's, Chalice's runtime) on every cold start, and throws the result away. The .pyc
   files are hash-based and unchecked (PEP 552): the zip's timestamps cannot invalidate them.
5. `cfn-lint` on OUT/sam.yaml: exits non-zero on any error.
"""

from __future__ import annotations

import argparse
import os
import py_compile
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parent.parent
MERGE_TEMPLATE = PROJECT / "infra" / "template.yaml"
ARTIFACTS = ("sam.yaml", "sam.json", "deployment.zip")
# cfn-lint findings we accept, each for a stated reason (docs/operations.md, "Template lint").
IGNORED_CHECKS: dict[str, str] = {}


def tool(name: str) -> str:
    """A console script of this interpreter's environment (the project's .venv)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def chalice_package(stage: str, out: Path) -> Path:
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
            str(PROJECT),
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


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def pin_stage(template_path: Path, stage: str) -> dict[str, Any]:
    template = yaml.safe_load(template_path.read_text(encoding="utf-8"))
    parameter = template["Parameters"]["Stage"]
    parameter["Default"] = stage
    parameter["AllowedValues"] = [stage]
    parameter["Description"] = (
        f"Packaged for the Chalice stage {stage!r}: resource names and function settings "
        "must agree, so no other value is accepted."
    )
    template_path.write_text(
        yaml.dump(template, Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=1000),
        encoding="utf-8",
    )
    return template


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


def precompile(bundle: Path) -> int:
    """Put ``__pycache__/<module>.<tag>.pyc`` beside every ``.py`` of the zip that compiles, for
    this interpreter (the one Chalice packaged for: the Lambda runtime's version), except in
    test folders, which nothing imports. Whatever ``__pycache__`` the zip had goes: Chalice copies
    chalicelib's from the working tree, timestamped bytecode that the zip's 1980 dates make stale
    (and some for modules that no longer exist). Entries keep their order, dates and
    permissions; the bytecode names /var/task paths, as Lambda runs them. Returns the number of
    modules compiled."""
    tag = sys.implementation.cache_tag
    with zipfile.ZipFile(bundle) as zf:
        entries = [
            (info, zf.read(info))
            for info in zf.infolist()
            if "__pycache__/" not in f"/{info.filename}"
        ]
    compiled: list[tuple[zipfile.ZipInfo, bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for info, data in entries:
            folder, _, module = info.filename.rpartition("/")
            if not module.endswith(".py") or {"tests", "testing"} & set(folder.split("/")):
                continue
            target = f"{folder}/__pycache__/{module[:-3]}.{tag}.pyc".lstrip("/")
            source = Path(tmp) / "source.py"
            source.write_bytes(data)
            try:
                py_compile.compile(
                    str(source),
                    cfile=str(Path(tmp) / "out.pyc"),
                    dfile=f"/var/task/{info.filename}",
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
            except py_compile.PyCompileError:
                continue  # never importable on this runtime anyway (e.g. a Python 2 example)
            entry = zipfile.ZipInfo(target, date_time=info.date_time)
            entry.external_attr = info.external_attr
            entry.compress_type = zipfile.ZIP_DEFLATED
            compiled.append((entry, (Path(tmp) / "out.pyc").read_bytes()))
    staged = bundle.with_suffix(".zip.tmp")
    with zipfile.ZipFile(staged, "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in [*entries, *compiled]:
            out.writestr(info, data)
    staged.replace(bundle)
    return len(compiled)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, default=PROJECT / "build")
    parser.add_argument("--no-lint", action="store_true")
    args = parser.parse_args(argv)
    template_path = chalice_package(args.stage, args.out)
    template = pin_stage(template_path, args.stage)
    problems = check_event_sources(template, args.stage)
    missing = missing_requirements(args.out / "deployment.zip")
    if missing:
        problems.append(
            f"the bundle lacks {', '.join(missing)}: no wheel for the Lambda runtime "
            f"(python{sys.version_info.major}.{sys.version_info.minor}, manylinux2014); "
            "pin a release that has one in requirements.txt"
        )
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    count = precompile(args.out / "deployment.zip")
    print(f"bytecode for {count} modules added to the bundle ({sys.implementation.cache_tag})")
    print(f"packaged stage {args.stage}: {template_path} and {args.out / 'deployment.zip'}")
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
