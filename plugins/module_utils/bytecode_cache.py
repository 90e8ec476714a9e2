# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""On a managed node, the compiled code of the collection's module_utils, kept between module runs.

Ansible runs a module on the node from a zip that holds the module_utils it imports, and Python
compiles every module it imports from a zip again on every run: it writes no cached bytecode into a
zip. This package's modules are most of what a module run imports (host_network: about 9,000 lines),
so their compiling is a large part of each run on a slow node (0.65 s against 0.06 s from cached
bytecode on an emulated lab node). Importing this module first, when the module_utils come from a
zip and the module runs as root, puts a finder in front that serves them with their compiled code
kept in /run/vmnet-netkit/bytecode (a tmpfs, emptied at boot), one file per module, named by a hash
of the Python version, the module's name and its source: a new collection version or another Python
never reads stale code. (A package's __init__.py cannot do it: Ansible puts empty ones in the zip.)

The finder makes each module's spec itself, from the zip's directory. Python's zip importer would
compile the module's source just to name its file (``zipimporter.find_spec`` asks its own
``get_filename``, which compiles), so a module found through it costs a compile even when its code then
comes from the cache: on the lab node that was 0.4 s of each module run, as much as the cache saved.

It is only an optimisation: anything unexpected (not root, a cache directory that is not root's own
or that others can write, an unreadable or corrupt file) falls back to compiling, never to an
error. On the controller and in tests, imports from directories keep Python's own bytecode cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import stat
import sys
import zipimport

CACHE_DIR = "/run/vmnet-netkit/bytecode"


class CachedCodeLoader(object):
    """Runs a module of the zip from its cached compiled code (compiling and keeping it on a miss).
    Source questions (tracebacks, the re-apply's copy of the code) go to the zip's own loader."""

    def __init__(self, zip_loader, cache_dir):
        self.zip_loader = zip_loader
        self.cache_dir = cache_dir

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        name = module.__spec__.name
        source = self.zip_loader.get_source(name)
        if source is None:  # compiled code only: the zip's own loader runs it
            code = self.zip_loader.get_code(name)
        else:
            code = code_for(name, source, module.__spec__.origin, self.cache_dir)
        exec(code, module.__dict__)

    def get_source(self, fullname):
        return self.zip_loader.get_source(fullname)

    def is_package(self, fullname):
        return self.zip_loader.is_package(fullname)

    def get_data(self, path):
        return self.zip_loader.get_data(path)


class CachedCodeFinder(object):
    """A meta path finder for the submodules of ``package`` that the zip importer finds."""

    def __init__(self, package, cache_dir):
        self.prefix = package + "."
        self.cache_dir = cache_dir

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(self.prefix) or path is None:
            return None
        leaf = fullname.rpartition(".")[2]
        for entry in path:
            importer = _zip_importer(entry)
            if importer is None:
                # not in a zip: Python's own finders (and bytecode cache) serve the whole search
                return None
            try:
                package = importer.is_package(leaf)
            except zipimport.ZipImportError:
                continue  # not in this entry
            where = os.path.join(importer.archive, importer.prefix, leaf)
            origin = os.path.join(where, "__init__.py") if package else where + ".py"
            spec = importlib.util.spec_from_loader(fullname, CachedCodeLoader(importer, self.cache_dir),
                                                   origin=origin, is_package=package)
            if package:
                spec.submodule_search_locations.append(where)
            spec.has_location = True  # the module's __file__ is its path in the zip, as zipimport gives it
            return spec
        return None

    def invalidate_caches(self):
        pass


def _zip_importer(entry):
    """The zip importer of the path entry ``entry`` (a zip, or a directory inside one), else None."""
    importer = sys.path_importer_cache.get(entry)
    if isinstance(importer, zipimport.zipimporter):
        return importer
    if importer is not None:
        return None
    try:
        importer = zipimport.zipimporter(entry)  # the zip's directory is read once per process
    except (zipimport.ZipImportError, OSError, ValueError):
        return None
    sys.path_importer_cache[entry] = importer
    return importer


def code_for(name, source, origin, cache_dir):
    """The compiled code of module ``name`` whose text is ``source``: from ``cache_dir``, else compiled
    (and kept there when the directory is safe to use)."""
    data = source.encode("utf-8")
    key = hashlib.sha256(b"\0".join([importlib.util.MAGIC_NUMBER, sys.version.encode(), name.encode(), data]))
    path = os.path.join(cache_dir, key.hexdigest())
    safe = _safe_dir(cache_dir)
    if safe:
        try:
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_uid == os.geteuid():
                    return marshal.loads(f.read())
        except (OSError, EOFError, ValueError, TypeError):
            pass
    code = compile(data, origin or name, "exec", dont_inherit=True)
    if safe:
        _keep(path, marshal.dumps(code))
    return code


def _safe_dir(cache_dir):
    """Whether ``cache_dir`` exists or could be made as this user's own, writable by nobody else."""
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        st = os.lstat(cache_dir)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _keep(path, data):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


PACKAGE = __name__.rpartition(".")[0]


def install(package=PACKAGE, cache_dir=CACHE_DIR):
    """Serve the submodules of ``package`` from cached code, when the package comes from a zip and the
    process runs as root; once per process."""
    spec = getattr(sys.modules.get(package), "__spec__", None)
    if not isinstance(getattr(spec, "loader", None), zipimport.zipimporter) or os.geteuid() != 0:
        return False
    if any(isinstance(f, CachedCodeFinder) and f.prefix == package + "." for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, CachedCodeFinder(package, cache_dir))
    return True


install()
