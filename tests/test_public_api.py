"""Every public name imports, so a broken export fails loudly."""

import importlib

import pytest


@pytest.mark.parametrize("package", ["trajviz", "surfaces", "trajviz.lessons"])
def test_every_public_name_imports(package):
    module = importlib.import_module(package)
    assert module.__all__ == sorted(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
