"""Cold start: each Lambda handler imported and its clients built in a fresh interpreter, against a bare boto3.

    make build                     # sam build: .aws-sam/build/ holds the layer and the functions
    python bench/coldstart.py [--runs 15] [--build-dir .aws-sam/build] [--only prepare,control]
                              [--baseline-from-commit REV | --before-build-dir DIR] [--bytecode] [--no-save]

What one measurement is: a new interpreter (``bench/_coldstart_child.py``) starts the clock, puts the
function's folder, the layer's ``python/`` and the runtime's boto3 first on ``sys.path`` (Lambda's
order), imports the handler (``app.lambda_handler``) and builds the clients that handler uses on its
first invocation (``CLIENTS`` below), then stops the clock. Interpreter startup is outside the clock.
The baseline, measured the same way in the same run, is ``import boto3`` and one client
(``--baseline-client``, sts by default). The runs are interleaved in a shuffled order, after one
warm-up round that is not counted, so the machine's load falls on handlers and baseline alike.
Each handler's figure is the median of ``--runs`` runs, with its 95th percentile and its ratio to the
baseline's median.

What runs is the build: the function folders and the layer of ``--build-dir`` as the layer ships
(Lambda's ``/opt`` is read-only, so what the layer does not ship as ``.pyc`` is compiled at every cold
start; the children run with ``-B`` so none is written). When the build put bytecode in the layer (it
does when a Python 3.13 is at hand), that bytecode is for the runtime's Python, so the copy here is
compiled by this interpreter instead; without it, the copy has none. The layer's wheels are
built for the runtime (arm64, CPython 3.13): the pure-Python ones run here as built; a distribution
with compiled code is replaced by the same version installed for this interpreter. boto3 and its
dependencies, which the runtime provides, come from this environment with their bytecode. The
environment is the function's (the template's variables, with placeholders for references) plus what
Lambda sets (``LAMBDA_TASK_ROOT``, region, fake credentials), so Powertools' Tracer and the X-Ray SDK
behave as in Lambda. Nothing is called over the network. Each function's app.py loads at init what its
step imports later (tests/unit/test_cold_start_imports.py checks it), so no import of the first request
is left out; the Lambda runtime's own start-up and the first request's work are.

It also prints where the import time goes for the slowest handler (``-X importtime``, self time summed
by top-level package, median of ``--profile-runs`` runs) and the layer's unzipped size, by
distribution, against the 20 MB target.

``--baseline-from-commit REV`` builds REV with ``sam build`` in a temporary git worktree and measures
it interleaved with the current build: the before/after figures of a change, from the same run
(``--before-build-dir DIR`` does the same with a build already made).
``--bytecode`` adds the current layer compiled to bytecode (by this interpreter, standing in for the
runtime's) to show what shipping ``.pyc`` files would save. Both are saved under ``coldstart`` in
``bench/results.json`` (``before_change``, ``with_layer_bytecode``) and kept by later runs that do not
measure them again. Figures depend on the machine: compare ratios, measured in one run.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from common import RESULTS, ROOT, median, percentile, print_table, save

CHILD = Path(__file__).resolve().with_name("_coldstart_child.py")
SECTION = "coldstart"
TARGET_RATIO = 1.3
TARGET_LAYER_MB = 20.0
MB = 1_000_000

# The clients each handler builds on its first invocation, read from its step in cutover.steps (or
# cutover.slack): its own AWS calls, "dynamodb" for the ledger's table (ledger.store()) and
# "sns" + "events" for a notification (notify.publish). A function missing here stops the benchmark.
CLIENTS: dict[str, tuple[str, ...]] = {
    "start_cutover": ("stepfunctions",),
    "prepare": ("dynamodb", "route53", "sns", "events"),
    "evaluate_gates": ("dynamodb", "cloudwatch", "dms", "mgn", "sns", "events"),
    "register_wait": ("dynamodb",),
    "shift_weights": ("dynamodb", "route53"),
    "await_sync": ("dynamodb", "route53"),
    "control": ("dynamodb", "stepfunctions"),
    "rollback": ("dynamodb", "route53"),
    "finalize": ("dynamodb", "sns", "events"),
    "slack_notifier": ("secretsmanager",),
    "slack_actions": ("secretsmanager", "dynamodb", "stepfunctions"),
}

# What the python3.13 runtime provides (the layer's Makefile leaves them out of the layer).
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")

# What Lambda sets in every function's environment (the values stand in for real ones).
LAMBDA_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
    "LANG": "C.UTF-8",
    "TZ": ":UTC",
}


class BenchError(Exception):
    """The benchmark cannot run as asked; the message says why."""


# ---------------------------------------------------------------- the template and the build


class _TemplateLoader(yaml.SafeLoader):
    """Reads a CloudFormation template: ``!Ref X`` becomes ``{"Ref": X}``, ``!Sub`` ``{"Fn::Sub": ...}``."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = suffix if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.SequenceNode):
        return {key: loader.construct_sequence(node, deep=True)}
    if isinstance(node, yaml.MappingNode):
        return {key: loader.construct_mapping(node, deep=True)}
    return {key: loader.construct_scalar(node)}  # type: ignore[arg-type]


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def read_template(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(), Loader=_TemplateLoader)  # a SafeLoader subclass
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise BenchError(f"{path}: not a template with Resources")
    return data


@dataclass
class Function:
    name: str  # the folder under functions/, e.g. "prepare"
    logical_id: str
    code_dir: Path  # the built function
    handler: str
    env: dict[str, str]
    layers: list[Path]  # built layer folders (each holds python/)

    @property
    def services(self) -> tuple[str, ...]:
        return CLIENTS[self.name]


@dataclass
class Build:
    """One ``sam build`` output, made runnable on this machine."""

    key: str  # "current", "before" or "bytecode"
    label: str
    build_dir: Path
    source_root: Path
    commit: str | None
    functions: dict[str, Function]
    layer_dirs: dict[str, Path]  # logical id -> built layer folder
    host_layers: dict[str, Path] = field(default_factory=dict)  # logical id -> runnable copy of python/
    substituted: list[dict[str, str]] = field(default_factory=list)
    bytecode: bool = False
    shipped_bytecode: bool = False  # the built layer carries .pyc files (for the runtime's Python)

    def paths(self, function: Function, runtime: Path) -> list[Path]:
        by_dir = {d: lid for lid, d in self.layer_dirs.items()}
        return [function.code_dir, *(self.host_layers[by_dir[d]] for d in function.layers), runtime]


def _env_value(key: str, value: Any) -> str:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    return f"placeholder-{key.lower().replace('_', '-')}"  # a Ref or Fn:: resolved at deploy time


def load_build(key: str, label: str, build_dir: Path, source_root: Path, commit: str | None) -> Build:
    built = build_dir / "template.yaml"
    if not built.is_file():
        raise BenchError(
            f"no sam build output in {build_dir} (no template.yaml): run `make build` first, or pass --build-dir"
        )
    template = read_template(built)
    source = read_template(source_root / "template.yaml")
    defaults = (template.get("Globals") or {}).get("Function") or {}
    resources: dict[str, Any] = template["Resources"]
    layer_dirs = {
        lid: build_dir / str(res["Properties"]["ContentUri"])
        for lid, res in resources.items()
        if res.get("Type") == "AWS::Serverless::LayerVersion"
    }
    functions: dict[str, Function] = {}
    for lid, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties") or {}
        name = Path(str(source["Resources"][lid]["Properties"]["CodeUri"])).name
        variables = {
            **((defaults.get("Environment") or {}).get("Variables") or {}),
            **((props.get("Environment") or {}).get("Variables") or {}),
        }
        refs = props.get("Layers", defaults.get("Layers")) or []
        layers = [layer_dirs[r["Ref"]] for r in refs if isinstance(r, dict) and r.get("Ref") in layer_dirs]
        functions[name] = Function(
            name=name,
            logical_id=lid,
            code_dir=build_dir / str(props["CodeUri"]),
            handler=str(props.get("Handler", defaults.get("Handler"))),
            env={k: _env_value(k, v) for k, v in variables.items()},
            layers=layers,
        )
    unknown = sorted(set(functions) - set(CLIENTS))
    if unknown:
        raise BenchError(f"no clients listed for {', '.join(unknown)}: add them to CLIENTS in {Path(__file__).name}")
    for path in [*layer_dirs.values(), *(f.code_dir for f in functions.values())]:
        if not path.is_dir():
            raise BenchError(f"{path} is missing: the build is incomplete, run `make build` again")
    return Build(key, label, build_dir, source_root, commit, functions, layer_dirs)


def stale_files(build: Build) -> list[str]:
    """Source files whose built copy differs: the build is older than the working tree."""
    pairs: list[tuple[Path, Path]] = []
    library = build.source_root / "layers" / "cutover" / "cutover"
    for layer in build.layer_dirs.values():
        built = layer / "python" / "cutover"
        if library.is_dir() and built.is_dir():
            pairs += [(src, built / src.relative_to(library)) for src in library.rglob("*.py")]
    for function in build.functions.values():
        folder = build.source_root / "functions" / function.name
        pairs += [(src, function.code_dir / src.name) for src in folder.glob("*.py")]
    return sorted(
        str(src.relative_to(build.source_root))
        for src, copy in pairs
        if not copy.is_file() or copy.read_bytes() != src.read_bytes()
    )


# ---------------------------------------------------------------- running the build here


def _wheel_tags(dist_info: Path) -> list[str]:
    """The wheel's tags, e.g. ``cp313-cp313-manylinux_2_17_aarch64`` or ``py3-none-any``."""
    wheel = dist_info / "WHEEL"
    lines = wheel.read_text().splitlines() if wheel.is_file() else []
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:")]


def _top_levels(record: str) -> set[str]:
    """The top-level files and folders a wheel's RECORD installs (not its metadata, not scripts)."""
    tops = set()
    for line in record.splitlines():
        path = line.split(",", 1)[0]
        if not path or path.startswith(".."):
            continue
        top = path.split("/", 1)[0]
        if not top.endswith(".dist-info") and top != "__pycache__":
            tops.add(top)
    return tops


def _ignore_bytecode(_: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith(".pyc")]


def host_copy(build: Build, lid: str, into: Path) -> Path:
    """The layer's ``python/`` copied without bytecode; platform wheels swapped for this machine's."""
    source = build.layer_dirs[lid] / "python"
    target = into / build.key / lid / "python"
    shutil.copytree(source, target, ignore=_ignore_bytecode, symlinks=True)
    for dist_info in sorted(source.glob("*.dist-info")):
        tags = _wheel_tags(dist_info)
        if all(tag.endswith("-any") for tag in tags):
            continue  # pure Python: runs here as built
        name, version = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)
        try:
            host = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise BenchError(
                f"the layer's {name} {version} has compiled code; install {name}=={version} here"
            ) from None
        if host.version != version:
            raise BenchError(f"the layer has {name} {version}, this environment {host.version}: install {version}")
        for top in sorted(_top_levels((dist_info / "RECORD").read_text())):
            built, local = target / top, Path(str(host.locate_file(top)))
            if built.is_dir():
                shutil.rmtree(built)
            elif built.exists():
                built.unlink()
            if local.is_dir():
                shutil.copytree(local, built, ignore=_ignore_bytecode)
            elif local.exists():
                shutil.copy2(local, built)
        build.substituted.append({"distribution": name, "version": version, "built_for": tags[0]})
    # Bytecode the layer ships is for the runtime's Python: stand in for it with this interpreter's.
    build.shipped_bytecode = build.shipped_bytecode or next(source.rglob("*.pyc"), None) is not None
    if build.bytecode or build.shipped_bytecode:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "-j", "0", str(target)], check=True, stdout=subprocess.DEVNULL
        )
    return target


def runtime_dir(into: Path) -> Path:
    """boto3 and what it needs, as the runtime provides them: links to this environment's copies."""
    target = into / "runtime"
    target.mkdir(parents=True)
    for module in RUNTIME_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise BenchError(f"{module} is not installed in this environment (the runtime provides it)")
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (target / source.name).symlink_to(source)
    return target


def child_env(build: Build, function: Function | None) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **LAMBDA_ENV}
    if function is None:
        env.update(AWS_LAMBDA_FUNCTION_NAME="bench-boto3-baseline", LAMBDA_TASK_ROOT=str(build.build_dir))
    else:
        env.update(function.env)
        env.update(AWS_LAMBDA_FUNCTION_NAME=f"bench-{function.name}", LAMBDA_TASK_ROOT=str(function.code_dir))
        env["_HANDLER"] = function.handler
    return env


# ---------------------------------------------------------------- measuring


@dataclass
class Target:
    """One thing to cold-start: a handler of a build, or the baseline."""

    build: Build
    function: Function | None  # None: the boto3 baseline
    command: list[str]
    env: dict[str, str]
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.function.name if self.function else "baseline"

    def run(self, flags: Sequence[str] = ()) -> tuple[dict[str, Any], str]:
        cmd = [sys.executable, "-I", "-S", "-B", *flags, *self.command]
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise BenchError(f"{self.build.label} {self.name}: the child failed\n{done.stderr.strip()}")
        return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr

    def check_origins(self, runtime: Path) -> None:
        """The handler, the library and boto3 came from the build and the runtime folder, nothing else."""
        origins = self.samples[0]["origins"] if self.samples else self.run()[0]["origins"]
        expected: dict[str, Path] = {"boto3": runtime}
        if self.function is not None:
            expected[self.function.handler.rpartition(".")[0]] = self.function.code_dir
            expected["cutover"] = self.build.host_layers[next(iter(self.build.layer_dirs))]
        for module, folder in expected.items():
            origin = origins.get(module)
            if module == "cutover" and origin is None:
                continue  # a handler that does not use the library
            if origin is None or not Path(origin).is_relative_to(folder):
                raise BenchError(f"{self.build.label} {self.name}: {module} came from {origin}, not {folder}")


def make_targets(builds: Sequence[Build], runtime: Path, baseline_client: str, only: set[str]) -> list[Target]:
    first = builds[0]
    targets = [Target(first, None, [str(CHILD), "-", str(runtime), baseline_client], child_env(first, None))]
    for build in builds:
        for name, function in sorted(build.functions.items()):
            if only and name not in only:
                continue
            paths = ":".join(str(p) for p in build.paths(function, runtime))
            command = [str(CHILD), function.handler, paths, ",".join(function.services)]
            targets.append(Target(build, function, command, child_env(build, function)))
    return targets


def measure(targets: Sequence[Target], runs: int, seed: int) -> None:
    order = list(targets)
    rng = random.Random(seed)
    for round_no in range(runs + 1):  # round 0 warms the file cache and is not counted
        rng.shuffle(order)
        for target in order:
            figures, _ = target.run()
            if round_no:
                target.samples.append(figures)
        label = "warm-up round" if round_no == 0 else f"round {round_no}/{runs}"
        print(f"  {label}: {len(order)} fresh interpreters", flush=True)


def summary(target: Target, baseline_ms: float) -> dict[str, Any]:
    totals = [s["total_ms"] for s in target.samples]
    result = {
        "median_ms": round(median(totals), 1),
        "p95_ms": round(percentile(totals, 95), 1),
        "import_ms": round(median([s["import_ms"] for s in target.samples]), 1),
        "clients_ms": round(median([s["clients_ms"] for s in target.samples]), 1),
        "modules": int(median([s["modules"] for s in target.samples])),
        "runs": len(totals),
    }
    if target.function is not None:
        result["clients"] = list(target.function.services)
        result["ratio_to_baseline"] = round(result["median_ms"] / baseline_ms, 2)
    return result


def import_profile(target: Target, runs: int) -> dict[str, float]:
    """Self import time (ms) by top-level package, median of ``runs`` runs of ``-X importtime``."""
    per_run: list[dict[str, float]] = []
    for _ in range(runs):
        _, stderr = target.run(["-X", "importtime"])
        totals: dict[str, float] = {}
        for line in stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, _cumulative, module = line.removeprefix("import time:").split("|")
            top = module.strip().split(".")[0]
            totals[top] = totals.get(top, 0.0) + int(self_us) / 1000
        per_run.append(totals)
    packages = {p for run in per_run for p in run}
    return {p: round(median([run.get(p, 0.0) for run in per_run]), 1) for p in packages}


def profile_slowest(targets: Sequence[Target], runs: int) -> dict[str, dict[str, float]]:
    """Import profiles of the baseline and of the slowest current handler (in every build but bytecode)."""
    current = [t for t in targets if t.build.key == "current"]
    if not current or runs < 1:
        return {}
    slowest = max(current, key=lambda t: median([s["total_ms"] for s in t.samples]))
    print(f"profiling imports of {slowest.name} and the baseline ({runs} runs each) ...", flush=True)
    profiles = {"baseline": import_profile(targets[0], runs)}
    for target in targets[1:]:
        if target.name == slowest.name and target.build.key != "bytecode":
            profiles[f"{slowest.name} ({target.build.key})"] = import_profile(target, runs)
    return profiles


# ---------------------------------------------------------------- the layer's size


def layer_contents(layer: Path) -> dict[str, Any]:
    """Unzipped size (the sum of the files' sizes) and zipped size of a built layer, by distribution."""
    python = layer / "python"
    owner: dict[str, str] = {}
    for dist_info in python.glob("*.dist-info"):
        name, version = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)
        label = f"{name} {version}"
        owner[dist_info.name] = label
        record = dist_info / "RECORD"
        for top in _top_levels(record.read_text()) if record.is_file() else set():
            owner.setdefault(top, label)
    sizes: dict[str, dict[str, Any]] = {}
    files = list(_files(layer))
    for path in files:
        rel = path.relative_to(layer)
        top = rel.parts[1] if len(rel.parts) > 1 and rel.parts[0] == "python" else rel.parts[0]
        label = owner.get(top) or ("cutover (this project)" if top == "cutover" else top)
        entry = sizes.setdefault(label, {"bytes": 0, "files": 0, "folders": set()})
        entry["bytes"] += path.stat().st_size
        entry["files"] += 1
        entry["folders"].add(top)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "layer.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in files:
                zf.write(path, path.relative_to(layer))
        zipped = archive.stat().st_size
    unzipped = sum(e["bytes"] for e in sizes.values())
    return {
        "folder": layer.name,
        "unzipped_bytes": unzipped,
        "unzipped_mb": round(unzipped / MB, 2),
        "zip_bytes": zipped,
        "zip_mb": round(zipped / MB, 2),
        "files": len(files),
        "target_mb": TARGET_LAYER_MB,
        "under_target": unzipped / MB < TARGET_LAYER_MB,
        "bytecode_files": sum(1 for p in files if p.suffix == ".pyc"),
        "distributions": {
            label: {
                "bytes": e["bytes"],
                "mb": round(e["bytes"] / MB, 2),
                "files": e["files"],
                "top": sorted(e["folders"]),
            }
            for label, e in sorted(sizes.items(), key=lambda kv: -kv[1]["bytes"])
        },
    }


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path


# ---------------------------------------------------------------- an older commit


def git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def source_state() -> dict[str, Any]:
    try:
        return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": bool(git("status", "--porcelain"))}
    except (BenchError, OSError):
        return {"commit": None, "uncommitted_changes": None}


def sam_build(source_root: Path) -> Path:
    """``sam build`` of the template in ``source_root`` (as ``make build`` runs it)."""
    sam = Path(sys.executable).with_name("sam")
    executable = str(sam) if sam.exists() else shutil.which("sam")
    if executable is None:
        raise BenchError("sam (AWS SAM CLI) is not installed: `make install` installs it")
    build_dir = source_root / ".aws-sam" / "build"
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }
    done = subprocess.run(
        [executable, "build", "--template", "template.yaml", "--build-dir", str(build_dir)],
        cwd=source_root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"sam build of {source_root} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return build_dir


# ---------------------------------------------------------------- report


def report(
    builds: Sequence[Build],
    targets: Sequence[Target],
    profiles: dict[str, dict[str, float]],
    stale: Sequence[str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Print every table; return the figures to save."""
    base = summary(targets[0], 1.0)
    by_build: dict[str, dict[str, dict[str, Any]]] = {b.key: {} for b in builds}
    for target in targets[1:]:
        by_build[target.build.key][target.name] = summary(target, base["median_ms"])
    current = by_build["current"]
    slowest = max(current, key=lambda n: current[n]["median_ms"]) if current else None

    print_handlers(current, base, args, builds[0].shipped_bytecode)
    if slowest:
        ratio = current[slowest]["ratio_to_baseline"]
        print(f"slowest: {slowest}, {ratio} x the baseline (target at most {TARGET_RATIO})")
    labels = {b.key: b.label for b in builds}
    if by_build.get("before"):
        print_comparison(f"Before/after: {labels['before']}", "before", "after", by_build["before"], current, args)
    if by_build.get("bytecode"):
        title = f"Layer with bytecode: {labels['bytecode']}"
        print_comparison(title, "as built", "with .pyc", current, by_build["bytecode"], args)
    if profiles:
        print_profile(profiles, args.profile_runs)
    layers = {
        b.key: layer_contents(folder) | {"logical_id": lid, "substituted_to_run_here": b.substituted}
        for b in builds
        if b.key != "bytecode"
        for lid, folder in b.layer_dirs.items()
    }
    print_layer(layers["current"])
    if "before" in layers:
        print(
            f"layer before: {layers['before']['unzipped_mb']} MB unzipped; after: {layers['current']['unzipped_mb']} MB"
        )

    figures: dict[str, Any] = {
        "method": _method(args),
        "runs": args.runs,
        "source": source_state() | {"build_dir": _rel(builds[0].build_dir), "stale_files": list(stale)},
        "baseline": {"what": f"import boto3; boto3.client({args.baseline_client!r})", **base},
        "handlers": current,
        "slowest": slowest,
        "max_ratio_to_baseline": current[slowest]["ratio_to_baseline"] if slowest else None,
        "target_ratio": TARGET_RATIO,
        "import_profile_ms": {"handler": slowest, "runs": args.profile_runs, **profiles},
        "layer": layers["current"],
        "layer_ships_bytecode": builds[0].shipped_bytecode,
    }
    if by_build.get("before"):
        before = next(b for b in builds if b.key == "before")
        figures["before_change"] = {
            "commit": before.commit,
            "build": before.label,
            "measured_in_same_run": True,
            "handlers": by_build["before"],
            "layer": layers.get("before"),
        }
    if by_build.get("bytecode"):
        figures["with_layer_bytecode"] = {
            "what": "the current layer compiled to bytecode by the benchmark's interpreter, measured in the same run",
            "handlers": by_build["bytecode"],
        }
    return figures


def print_handlers(
    current: dict[str, dict[str, Any]], base: dict[str, Any], args: argparse.Namespace, bytecode: bool
) -> None:
    rows: list[list[Any]] = [[f"baseline: import boto3 + {args.baseline_client} client", "", *_cells(base), ""]]
    for name, fig in current.items():
        rows.append([name, " ".join(fig["clients"]), *_cells(fig), fig["ratio_to_baseline"]])
    print_table(
        f"Cold start (import + clients, fresh interpreter, layer as shipped: {'with' if bytecode else 'without'} "
        f"bytecode): median of {args.runs} runs, ms",
        ["handler", "clients built", "median", "p95", "import", "clients", "x baseline"],
        rows,
    )


def print_comparison(
    title: str,
    first: str,
    second: str,
    a: dict[str, dict[str, Any]],
    b: dict[str, dict[str, Any]],
    args: argparse.Namespace,
) -> None:
    """Two sets of figures of the same run, handler by handler."""
    rows = [
        [
            name,
            a[name]["median_ms"],
            b[name]["median_ms"],
            b[name]["median_ms"] - a[name]["median_ms"],
            a[name]["ratio_to_baseline"],
            b[name]["ratio_to_baseline"],
        ]
        for name in b
        if name in a
    ]
    print_table(
        f"{title} (median ms of {args.runs} runs, measured in the same run against the same baseline)",
        ["handler", first, second, "change ms", f"x base {first}", f"x base {second}"],
        rows,
    )


def print_profile(profiles: dict[str, dict[str, float]], runs: int) -> None:
    columns = list(profiles)
    packages = sorted(
        {p for prof in profiles.values() for p in prof},
        key=lambda p: -max(prof.get(p, 0.0) for prof in profiles.values()),
    )
    rows: list[list[Any]] = [[p, *(profiles[c].get(p, 0.0) for c in columns)] for p in packages[:15]]
    rows.append(["(all imports)", *(round(sum(profiles[c].values()), 1) for c in columns)])
    print_table(
        f"Where the import time goes: self time by top-level package, ms (-X importtime, median of {runs} runs; "
        "importtime slows imports down, so compare columns, not these with the table above)",
        ["package", *columns],
        rows,
    )


def print_layer(layer: dict[str, Any]) -> None:
    rows: list[list[Any]] = [
        [label, ", ".join(d["top"]), d["mb"], d["files"]] for label, d in layer["distributions"].items()
    ]
    rows.append(["total (unzipped)", "", layer["unzipped_mb"], layer["files"]])
    verdict = "under" if layer["under_target"] else "OVER"
    print_table(
        f"Layer {layer['folder']} as built: {layer['unzipped_mb']} MB unzipped ({layer['zip_mb']} MB zipped), "
        f"{verdict} the {TARGET_LAYER_MB:g} MB target",
        ["distribution", "folders", "MB", "files"],
        rows,
    )


def _cells(fig: dict[str, Any]) -> list[Any]:
    return [fig["median_ms"], fig["p95_ms"], fig["import_ms"], fig["clients_ms"]]


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _method(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "interpreter": f"CPython {sys.version.split()[0]} (Lambda runs 3.13 on arm64)",
        "child": "python -I -S -B bench/_coldstart_child.py: clock from before the first import to the last client",
        "order": "one warm-up round, then every target once per round in a shuffled order",
        "layer": "the built layer as shipped: with bytecode when the build made it (compiled here by this "
        "interpreter in its place), else without; platform wheels replaced by the same version here",
        "runtime": "boto3, botocore, s3transfer, jmespath, urllib3, dateutil, six from this environment, with bytecode",
        "baseline_client": args.baseline_client,
        "seed": args.seed,
    }


def _carry_over(figures: dict[str, Any]) -> None:
    """Keep the before/after and bytecode figures of an earlier run when this one did not measure them."""
    try:
        previous = json.loads(RESULTS.read_text()).get(SECTION) or {}
    except (OSError, ValueError):
        return
    for key in ("before_change", "with_layer_bytecode"):
        if key not in figures and key in previous:
            figures[key] = {**previous[key], "measured_at": previous.get("measured_at"), "kept_from_earlier_run": True}


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="measured runs per handler (default 15; at least 10)")
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".aws-sam" / "build", help="sam build output")
    parser.add_argument("--baseline-client", default="sts", help="the one client of the boto3 baseline (default sts)")
    before = parser.add_mutually_exclusive_group()
    before.add_argument("--baseline-from-commit", metavar="REV", help="also build and measure REV (before/after)")
    before.add_argument("--before-build-dir", type=Path, metavar="DIR", help="also measure this sam build output")
    parser.add_argument("--bytecode", action="store_true", help="also measure the layer compiled to bytecode")
    parser.add_argument("--only", default="", help="comma-separated handlers to measure (default: all)")
    parser.add_argument("--profile-runs", type=int, default=5, help="-X importtime runs for the profile (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffled order (default 0)")
    parser.add_argument("--no-save", action="store_true", help="print only; leave bench/results.json alone")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.runs < 10:
        print(f"note: {args.runs} runs; the figures of record are the median of at least 10", flush=True)
    try:
        return run(args)
    except BenchError as err:
        print(f"coldstart: {err}", file=sys.stderr)
        return 2


def other_builds(args: argparse.Namespace, build_dir: Path, worktree: Path) -> list[Build]:
    """The builds measured next to the current one: before a change, and the layer with bytecode."""
    builds = []
    if args.baseline_from_commit:
        commit = git("rev-parse", "--verify", f"{args.baseline_from_commit}^{{commit}}")
        print(f"building {commit[:12]} in a temporary worktree (sam build) ...", flush=True)
        git("worktree", "add", "--detach", "--quiet", str(worktree), commit)
        label = f"commit {commit[:12]} vs working tree"
        builds.append(load_build("before", label, sam_build(worktree), worktree, commit))
    if args.before_build_dir:
        before_dir = args.before_build_dir.resolve()
        builds.append(load_build("before", f"{_rel(before_dir)} vs {_rel(build_dir)}", before_dir, ROOT, None))
    if args.bytecode:
        with_pyc = load_build("bytecode", "current layer compiled by this interpreter", build_dir, ROOT, None)
        with_pyc.bytecode = True
        builds.append(with_pyc)
    return builds


def run(args: argparse.Namespace) -> int:
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    build_dir = args.build_dir.resolve()
    current = load_build("current", "working tree build", build_dir, ROOT, None)
    stale = stale_files(current) if build_dir == (ROOT / ".aws-sam" / "build").resolve() else []
    if stale:
        print(
            f"WARNING: {_rel(build_dir)} is older than the source ({', '.join(stale[:5])}"
            f"{' ...' if len(stale) > 5 else ''} differ): run `make build` for figures of the current code",
            flush=True,
        )
    unknown = only - set(current.functions)
    if unknown:
        raise BenchError(
            f"no such handler: {', '.join(sorted(unknown))} (known: {', '.join(sorted(current.functions))})"
        )

    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        work = Path(tmp)
        worktree = work / "before-src"
        try:
            builds = [current, *other_builds(args, build_dir, worktree)]
            for build in builds:
                build.host_layers = {lid: host_copy(build, lid, work) for lid in build.layer_dirs}
            runtime = runtime_dir(work)
            targets = make_targets(builds, runtime, args.baseline_client, only)
            for target in targets:
                target.check_origins(runtime)
            print(f"measuring {len(targets)} targets x {args.runs} runs (+1 warm-up) ...", flush=True)
            measure(targets, args.runs, args.seed)

            profiles = profile_slowest(targets, args.profile_runs)
            figures = report(builds, targets, profiles, stale, args)
        finally:
            if worktree.exists():
                git("worktree", "remove", "--force", str(worktree))
    if not args.no_save:
        _carry_over(figures)
        save(SECTION, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
