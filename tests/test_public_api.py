"""The public API, namespace by namespace: every name in ``__all__`` imports and is
documented, nothing public-looking is left out of it, and ``import trajviz`` stays light."""

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import surfaces
import trajviz

NAMESPACES = ["trajviz", "surfaces", "trajviz.landscape", "trajviz.plot", "trajviz.maps",
              "trajviz.widgets", "trajviz.lessons"]
# packages whose interface is not a namespace of names
NOT_NAMESPACES = {"trajviz.cli": "the command line: `trajviz.cli.main` is its entry point"}
# exported names without a docstring, each defined in a module owned elsewhere: the test
# fails when another one appears and when one of these gets its docstring
# what `import trajviz` must not load: it runs and draws a race without them
HEAVY = ("matplotlib.pyplot", "ipywidgets", "torchvision", "trajviz.landscape", "trajviz.maps",
         "trajviz.widgets")
# the names `trajviz` exports from those subpackages, loaded on first use
LAZY = {"compute_landscape": "trajviz.landscape", "loss_landscape": "trajviz.landscape",
        "plane_surface": "trajviz.landscape", "BasinMap": "trajviz.maps",
        "SweepMap": "trajviz.maps", "basins": "trajviz.maps", "sweep": "trajviz.maps",
        "explore": "trajviz.widgets", "explore_landscape": "trajviz.widgets"}
ROOT = Path(__file__).resolve().parents[1]


def exported(package: str) -> tuple[ModuleType, list[str]]:
    module = importlib.import_module(package)
    return module, list(module.__all__)


def documented(obj: object, name: str, namespace: ModuleType) -> bool:
    """A class or function has its own docstring (not a dataclass's generated signature);
    a constant or type alias is named in its namespace's docstring."""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__") or ""
        return bool(doc.strip()) and not doc.startswith(f"{obj.__name__}(")
    if inspect.isroutine(obj):
        return bool((obj.__doc__ or "").strip())
    return f"`{name}`" in (namespace.__doc__ or "")


@pytest.mark.parametrize("package", NAMESPACES)
def test_all_is_sorted_without_duplicates(package):
    _, names = exported(package)
    assert names, package
    assert len(set(names)) == len(names), [n for n in names if names.count(n) > 1]
    assert names == sorted(names)


@pytest.mark.parametrize("package", NAMESPACES)
def test_every_exported_name_imports_and_is_documented(package):
    module, names = exported(package)
    objects = {name: getattr(module, name) for name in names}
    modules = [name for name, obj in objects.items() if isinstance(obj, ModuleType)]
    assert modules == [], "a submodule shadows an exported name"
    undocumented = {name for name, obj in objects.items()
                    if not name.startswith("__") and not documented(obj, name, module)}
    assert not undocumented


@pytest.mark.parametrize("package", NAMESPACES)
def test_star_import_gives_exactly_all(package):
    namespace: dict[str, object] = {}
    exec(f"from {package} import *", namespace)  # the statement under test
    assert set(namespace) - {"__builtins__"} == set(exported(package)[1])


@pytest.mark.parametrize("package", NAMESPACES)
def test_no_public_name_is_left_out_of_all(package):
    module, names = exported(package)
    public = {name for name, obj in vars(module).items()
              if not name.startswith("_") and not isinstance(obj, ModuleType)}
    assert public - set(names) == set()


@pytest.mark.parametrize("package", NAMESPACES)
def test_dir_lists_every_exported_name(package):
    module, names = exported(package)
    assert set(names) <= set(dir(module))


def test_every_public_package_is_a_namespace_here():
    found = {"surfaces", "trajviz"} | {
        info.name for root in (trajviz, surfaces)
        for info in pkgutil.walk_packages(root.__path__, f"{root.__name__}.")
        if info.ispkg and not any(part.startswith("_") for part in info.name.split("."))}
    assert found == set(NAMESPACES) | set(NOT_NAMESPACES)


def test_import_trajviz_loads_no_heavy_module():
    code = ("import sys, trajviz\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
            "print(' '.join(n for n in trajviz.__all__ if n not in vars(trajviz)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=True)
    loaded, lazy = done.stdout.split("\n")[:2]
    assert loaded == ""
    assert set(lazy.split()) == set(LAZY)


def test_the_cli_parser_builds_no_optimizer():
    """Every command's parser, `trajviz --help` and `trajviz list` included, comes up without
    building an optimizer, whose first construction imports torch._dynamo (about 1.5 s)."""
    code = ("import sys\nfrom trajviz.cli import build_parser\nbuild_parser()\n"
            "print('torch._dynamo' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=True)
    assert done.stdout.strip() == "False"


def test_the_seed_settings_are_the_validated_teaching_specs():
    from trajviz.landscape import SEED_SETTINGS
    from trajviz.teaching import net_optimizers

    assert SEED_SETTINGS == tuple(s.spec for s in net_optimizers())
    assert SEED_SETTINGS[0] == "sgd:lr=0.1" and len(SEED_SETTINGS) == 8


@pytest.mark.parametrize(("name", "package"), LAZY.items())
def test_a_lazy_name_is_its_subpackage_object(name, package):
    module, names = exported(package)
    assert name in names
    assert getattr(trajviz, name) is getattr(module, name)


def test_an_unknown_attribute_of_trajviz_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        trajviz.nope  # noqa: B018 - the lookup under test
