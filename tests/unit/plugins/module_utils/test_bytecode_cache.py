# SPDX-License-Identifier: GPL-3.0-or-later
"""bytecode_cache: modules of a package imported from a zip (as Ansible ships module_utils to a node) run
from compiled code kept in a cache directory, which is used only when it is safe, and never stale."""

from __future__ import annotations

import builtins
import importlib
import linecache
import marshal
import os
import sys
import traceback
import zipfile

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils import bytecode_cache

FILES = {
    "pkgx/__init__.py": "",
    "pkgx/mod.py": "X = 1\n\n\ndef boom():\n    raise ValueError('from the zip')\n",
    "pkgx/sub/__init__.py": "",
    "pkgx/sub/deep.py": "from pkgx import mod\nY = mod.X + 1\n",
}


def make_zip(path, files):
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return str(path)


@pytest.fixture
def zipped(tmp_path):
    """pkgx importable from a zip, with a CachedCodeFinder in front; everything undone afterwards."""
    added = []

    def use(files=None, name="modules.zip", cache=None):
        archive = make_zip(tmp_path / name, files or FILES)
        for mod in [m for m in sys.modules if m == "pkgx" or m.startswith("pkgx.")]:
            del sys.modules[mod]
        sys.path.insert(0, archive)
        importlib.import_module("pkgx")
        finder = bytecode_cache.CachedCodeFinder("pkgx", str(cache or tmp_path / "cache"))
        sys.meta_path.insert(0, finder)
        added.append((archive, finder))
        return archive

    yield use
    for archive, finder in added:
        sys.path.remove(archive)
        sys.meta_path.remove(finder)
    for mod in [m for m in sys.modules if m == "pkgx" or m.startswith("pkgx.")]:
        del sys.modules[mod]


def cached_files(cache):
    return sorted(os.listdir(cache)) if os.path.isdir(cache) else []


def reimport(name):
    for mod in [m for m in sys.modules if m.startswith("pkgx.")]:
        del sys.modules[mod]
    return importlib.import_module(name)


def test_first_import_compiles_and_keeps_one_file_per_module(zipped, tmp_path):
    archive = zipped()
    deep = importlib.import_module("pkgx.sub.deep")
    assert deep.Y == 2 and deep.__file__ == os.path.join(archive, "pkgx", "sub", "deep.py")
    assert isinstance(deep.__loader__, bytecode_cache.CachedCodeLoader)
    files = cached_files(tmp_path / "cache")
    assert len(files) == 3  # pkgx.mod, pkgx.sub, pkgx.sub.deep (pkgx itself was imported before the finder)
    assert all(os.stat(tmp_path / "cache" / f).st_mode & 0o777 == 0o600 for f in files)
    assert os.stat(tmp_path / "cache").st_mode & 0o777 == 0o700
    # tracebacks still show the source lines, read through the zip's own loader
    mod = importlib.import_module("pkgx.mod")
    with pytest.raises(ValueError) as err:
        mod.boom()
    assert "raise ValueError('from the zip')" in "".join(traceback.format_tb(err.value.__traceback__))
    linecache.clearcache()


def compiles_during(monkeypatch, fn):
    """fn(), and the files Python compiled source of while it ran."""
    compiled, real = [], builtins.compile

    def counting(source, filename, *args, **kwargs):
        compiled.append(str(filename))
        return real(source, filename, *args, **kwargs)

    monkeypatch.setattr(builtins, "compile", counting)
    try:
        fn()
    finally:
        monkeypatch.setattr(builtins, "compile", real)
    return compiled


def test_each_module_is_compiled_once_then_never(zipped, monkeypatch):
    # Python's zip importer compiles a module to name its file when it finds it, then again to run
    # it: the finder makes its specs without that first compile
    archive = zipped()
    first = compiles_during(monkeypatch, lambda: importlib.import_module("pkgx.sub.deep"))
    assert sorted(first) == sorted(os.path.join(archive, *name) for name in
                                   [("pkgx", "mod.py"), ("pkgx", "sub", "__init__.py"), ("pkgx", "sub", "deep.py")])
    assert compiles_during(monkeypatch, lambda: reimport("pkgx.sub.deep")) == []
    deep = sys.modules["pkgx.sub.deep"]
    assert deep.Y == 2 and sys.modules["pkgx.sub"].__path__ == [os.path.join(archive, "pkgx", "sub")]


def cached_path_of(tmp_path, name, source):
    """The cache file of module NAME with SOURCE (the same key code_for computes)."""
    before = set(cached_files(tmp_path / "probe"))
    bytecode_cache.code_for(name, source, name, str(tmp_path / "probe"))
    key = (set(cached_files(tmp_path / "probe")) - before).pop()
    return tmp_path / "cache" / key


def test_a_later_import_runs_the_kept_code_not_a_new_compile(zipped, tmp_path):
    zipped()
    assert importlib.import_module("pkgx.mod").X == 1
    kept = cached_path_of(tmp_path, "pkgx.mod", FILES["pkgx/mod.py"])
    assert kept.exists()
    kept.write_bytes(marshal.dumps(compile("X = 2\n", "kept", "exec")))  # what the next import must run
    assert reimport("pkgx.mod").X == 2


def test_changed_source_gets_its_own_entry(zipped, tmp_path):
    zipped()
    importlib.import_module("pkgx.mod")
    kept = cached_path_of(tmp_path, "pkgx.mod", FILES["pkgx/mod.py"])
    kept.write_bytes(marshal.dumps(compile("X = 2\n", "kept", "exec")))
    # a new collection version: another zip with another text for pkgx.mod
    zipped(dict(FILES, **{"pkgx/mod.py": "X = 3\n"}), name="newer.zip")
    assert importlib.import_module("pkgx.mod").X == 3
    assert len(cached_files(tmp_path / "cache")) == 2


def test_a_corrupt_entry_is_compiled_again_and_replaced(zipped, tmp_path):
    zipped()
    importlib.import_module("pkgx.mod")
    kept = cached_path_of(tmp_path, "pkgx.mod", FILES["pkgx/mod.py"])
    kept.write_bytes(b"\x00not marshal")
    assert reimport("pkgx.mod").X == 1
    assert marshal.loads(kept.read_bytes()).co_filename.endswith(os.path.join("pkgx", "mod.py"))


def test_a_directory_others_can_write_is_neither_read_nor_written(zipped, tmp_path):
    cache = tmp_path / "cache"
    zipped()
    importlib.import_module("pkgx.mod")
    kept = cached_path_of(tmp_path, "pkgx.mod", FILES["pkgx/mod.py"])
    kept.write_bytes(marshal.dumps(compile("X = 2\n", "planted", "exec")))
    os.chmod(cache, 0o777)
    try:
        assert reimport("pkgx.mod").X == 1  # compiled from the zip, the planted code ignored
        assert importlib.import_module("pkgx.sub.deep").Y == 2
        assert len(cached_files(cache)) == 1  # nothing new kept there
    finally:
        os.chmod(cache, 0o700)


def test_a_cache_that_cannot_be_made_costs_only_the_compile(zipped, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    zipped(cache=blocker / "cache")
    assert importlib.import_module("pkgx.sub.deep").Y == 2


def test_install_leaves_directory_imports_to_python():
    # the unit tests import module_utils from a directory: Python's own bytecode cache serves them
    before = list(sys.meta_path)
    assert bytecode_cache.install() is False
    assert sys.meta_path == before
    assert not any(isinstance(f, bytecode_cache.CachedCodeFinder) for f in sys.meta_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="install() acts for root only, as modules run on a node")
def test_install_takes_a_zipped_package_once(tmp_path):
    archive = make_zip(tmp_path / "alone.zip", FILES)
    sys.path.insert(0, archive)
    try:
        importlib.import_module("pkgx")
        assert bytecode_cache.install("pkgx", str(tmp_path / "cache")) is True
        assert bytecode_cache.install("pkgx", str(tmp_path / "cache")) is False
        assert importlib.import_module("pkgx.sub.deep").Y == 2
        assert len(cached_files(tmp_path / "cache")) == 3
    finally:
        sys.path.remove(archive)
        for f in [f for f in sys.meta_path if isinstance(f, bytecode_cache.CachedCodeFinder)]:
            sys.meta_path.remove(f)
        for mod in [m for m in sys.modules if m == "pkgx" or m.startswith("pkgx.")]:
            del sys.modules[mod]
