"""Import direction, read from the source (ast), never by importing it.

Every module of `apigen_pipeline` belongs to one layer below. A module may import its own layer and
the layers below it, never one above; only the shell imports Dagster; no provider imports another
provider or another provider's SDK; the stages leave storage to the shell. No exemptions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import apigen_pipeline

PACKAGE = "apigen_pipeline"
PROVIDERS = f"{PACKAGE}.llm.providers"
PROVIDER_BASE = f"{PROVIDERS}.base"
SDKS = ("openai", "anthropic")


@dataclass(frozen=True)
class Layer:
    name: str
    modules: tuple[str, ...]  # module names or package prefixes (the longest match decides)
    reason: str


def _llm(*names: str) -> tuple[str, ...]:
    return tuple(f"{PACKAGE}.llm.{name}" for name in names)


# Bottom to top. DESIGN.md: environments < llm < core stages < warehouse < defs; storage sits lower here,
# see its reason.
LAYERS: tuple[Layer, ...] = (
    Layer("foundation", (f"{PACKAGE}.records", f"{PACKAGE}.percentile", f"{PACKAGE}.paths"),
          "the frozen record base, one percentile and the project's paths: every layer may use them"),
    Layer("environments", (f"{PACKAGE}.environments",),
          "domains as plain Python (tools, data, policy checks): they know nothing of LLMs, storage or stages"),
    Layer("storage", (f"{PACKAGE}.warehouse",),
          "DuckDB and the SQL files only, no pipeline concept; below llm because the request log (the "
          "LLM layer's cache and unit of resume) persists through it, and the stages never use it "
          "(test_the_stages_leave_storage_to_the_shell), so the shell still owns every partition write"),
    Layer("llm-neutral", _llm("types", "errors", "messages", "tokens", "tool_call_modes", "structured",
                              "capabilities", "secrets", "sdk_common", "simulated_faults", "config",
                              "pricing", "limits", "prompt_cache"),
          "provider-neutral request/response types, errors, settings and helpers every provider may use"),
    Layer("llm-providers", (PROVIDERS,),
          "one module per SDK over the neutral pieces (test_each_provider_stands_alone)"),
    Layer("llm", (f"{PACKAGE}.llm",),
          "what builds and drives providers: factory, gateway (cache, limits, retries, cost), client, request log"),
    Layer("phase1", (f"{PACKAGE}.phase1",),
          "the method's Phase 1 (blueprints): calls LLMs through llm's client protocol"),
    Layer("phase2", (f"{PACKAGE}.phase2",),
          "the method's Phase 2 (trajectories): plays out Phase 1's accepted blueprints"),
    Layer("dataset", (f"{PACKAGE}.dataset",),
          "exports, pass^k and reports over both phases' results"),
    Layer("simulated", (f"{PACKAGE}.simulated",),
          "the offline backend: it answers the prompts of phase1 and phase2, so it sits above them and "
          "reaches llm only as a provider factory handed in from above"),
    Layer("testing", (f"{PACKAGE}.testing",),
          "wire-level test servers for plugin authors, answering like the simulated backend"),
    Layer("config", (f"{PACKAGE}.config",),
          "the pipeline config: it aggregates every layer's settings"),
    Layer("shell", (f"{PACKAGE}.defs", f"{PACKAGE}.definitions", f"{PACKAGE}.cli"),
          "Dagster: assets, checks, resources and the CLI wire the layers below; nothing imports them"),
)
DAGSTER_ALLOWED = {"shell"}
STAGES = ("phase1", "phase2", "dataset", "simulated")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(root: Path) -> dict[str, Path]:
    return {module_name(root, path): path for path in sorted(root.rglob("*.py"))}


def imports_of(module: str, path: Path, known: set[str]) -> Iterator[Import]:
    """Every import in the file, including function-local and TYPE_CHECKING ones, as absolute module names."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield Import(module, candidate if candidate in known else base, node.lineno)


def layer_of(module: str) -> Layer | None:
    best: tuple[int, Layer] | None = None
    for layer in LAYERS:
        for prefix in layer.modules:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), layer)
    return best[1] if best else None


def rank(layer: Layer) -> int:
    return LAYERS.index(layer)


def all_imports(root: Path) -> list[Import]:
    modules = package_modules(root)
    found = (found for module, path in modules.items() for found in imports_of(module, path, set(modules)))
    return list(dict.fromkeys(found))  # one entry per (importer, imported, line)


def unplaced_modules(root: Path) -> list[str]:
    return [f"{module}: belongs to no layer; add it to LAYERS" for module in package_modules(root)
            if module != PACKAGE and layer_of(module) is None]


def layering_violations(imports: list[Import]) -> list[str]:
    problems = []
    for found in imports:
        importer = layer_of(found.importer)
        top = found.imported.split(".")[0]
        if importer is None:
            continue  # reported once by unplaced_modules
        if (top == "dagster" or top.startswith("dagster_")) and importer.name not in DAGSTER_ALLOWED:
            problems.append(f"{found.importer}:{found.line} ({importer.name}) imports {found.imported}")
        if top != PACKAGE:
            continue
        imported = layer_of(found.imported)
        if imported is None:
            problems.append(f"{found.importer}:{found.line} imports {found.imported}, which belongs to no layer")
        elif rank(imported) > rank(importer):
            problems.append(f"{found.importer}:{found.line} ({importer.name}) imports {found.imported} "
                            f"({imported.name}, a higher layer)")
    return problems


def provider_violations(imports: list[Import]) -> list[str]:
    problems = []
    for found in imports:
        if not found.importer.startswith(PROVIDERS + ".") or found.importer == PROVIDER_BASE:
            continue
        other_provider = found.imported.startswith(PROVIDERS + ".") and found.imported != PROVIDER_BASE \
            and found.imported != found.importer
        own_sdk = found.importer.removeprefix(PROVIDERS + ".").split("_")[0]
        other_sdk = found.imported.split(".")[0] in SDKS and found.imported.split(".")[0] != own_sdk
        if other_provider or other_sdk:
            problems.append(f"{found.importer}:{found.line} imports {found.imported}")
    return problems


def storage_violations(imports: list[Import]) -> list[str]:
    return [f"{found.importer}:{found.line} imports {found.imported}" for found in imports
            if (layer := layer_of(found.importer)) is not None and layer.name in STAGES
            and (found.imported.split(".")[0] == "duckdb" or found.imported.startswith(f"{PACKAGE}.warehouse"))]


ROOT = Path(apigen_pipeline.__file__).resolve().parent


def test_every_module_imports_only_its_own_layer_and_below_and_only_the_shell_imports_dagster():
    imports = all_imports(ROOT)
    assert len(imports) > 300  # the whole package was read
    assert unplaced_modules(ROOT) == []
    assert layering_violations(imports) == []


def test_each_provider_stands_alone():
    imports = all_imports(ROOT)
    assert {f.importer for f in imports if f.importer.startswith(PROVIDERS + ".")} >= {
        f"{PROVIDERS}.openai_provider", f"{PROVIDERS}.anthropic_provider"}
    assert provider_violations(imports) == []


def test_the_stages_leave_storage_to_the_shell():
    assert storage_violations(all_imports(ROOT)) == []


def test_the_checks_catch_each_kind_of_violation(tmp_path: Path):
    root = tmp_path / PACKAGE
    files = {
        "llm/types.py": "from apigen_pipeline.phase1 import runner\n",            # llm-neutral -> phase1
        "phase1/runner.py": "def f():\n    import dagster\n",                    # Dagster below the shell
        "phase2/__init__.py": "from .. import simulated\n",                       # relative, upwards
        "simulated/__init__.py": "",
        "llm/providers/anthropic_provider.py": "from apigen_pipeline.llm.providers.openai_provider import x\n"
                                               "import openai\n",
        "llm/providers/openai_provider.py": "from apigen_pipeline.llm.providers.base import Provider\n",
        "dataset/export.py": "import duckdb\n",
        "stray.py": "",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    imports = all_imports(root)
    layering = layering_violations(imports)
    assert any("apigen_pipeline.llm.types:1 (llm-neutral) imports apigen_pipeline.phase1.runner" in p for p in layering)
    assert any("apigen_pipeline.phase1.runner:2 (phase1) imports dagster" in p for p in layering)
    assert any("apigen_pipeline.phase2:1 (phase2) imports apigen_pipeline.simulated" in p for p in layering)
    assert unplaced_modules(root) == ["apigen_pipeline.stray: belongs to no layer; add it to LAYERS"]
    assert sorted(provider_violations(imports)) == [
        "apigen_pipeline.llm.providers.anthropic_provider:1 imports apigen_pipeline.llm.providers.openai_provider",
        "apigen_pipeline.llm.providers.anthropic_provider:2 imports openai"]
    assert storage_violations(imports) == ["apigen_pipeline.dataset.export:1 imports duckdb"]

