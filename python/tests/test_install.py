"""pip install ./python into a virtual environment, offline, then use the
package from outside the checkout."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import LIB, PYDIR, SRC, comparable, env_for, smi_json


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A venv with the package installed from a copy of python/ (pip builds in
    the source tree: the checkout stays untouched)."""
    root = tmp_path_factory.mktemp("venv")
    src = root / "src"
    shutil.copytree(PYDIR, str(src), ignore=shutil.ignore_patterns("tests", "__pycache__",
                                                                   "build", "*.egg-info"))
    env = dict(os.environ)
    for k in ("PYTHONPATH", "PIP_FIND_LINKS", "TT_ALLOC_LIBRARY"):
        env.pop(k, None)
    # --system-site-packages: setuptools and wheel from the system (Debian's
    # python3-setuptools, python3-wheel), since nothing may be downloaded.
    r = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages",
                        str(root / "venv")], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr + "\n(Debian: apt-get install python3-venv)"
    py = str(root / "venv" / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-build-isolation",
                        "--disable-pip-version-check", str(src)], capture_output=True,
                       text=True, env=env, cwd=str(root), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return py, root


def run(venv, code, segment, **extra):
    py, root = venv
    env = env_for(segment, tracking=False, PYTHONPATH=None, **extra)
    return subprocess.run([py, "-c", code], capture_output=True, text=True, env=env,
                          cwd=str(root), timeout=60)


def test_installed_package_reads_like_tt_smi(venv, segment, replay):
    replay(segment)
    r = run(venv, "import json, tt_alloc\n"
            "print(tt_alloc.__file__)\n"
            "print(tt_alloc.library_path())\n"
            "print(json.dumps(tt_alloc.snapshot(buffers=True)))\n"
            "print(tt_alloc.query_device_stats(1)['dram_allocated'])",
            segment, TT_ALLOC_LIBRARY=LIB)
    assert r.returncode == 0, r.stderr
    where, lib, doc, dram = r.stdout.splitlines()
    assert where.startswith(str(venv[1] / "venv")) and not where.startswith(SRC)
    assert lib == LIB
    want = smi_json(segment, "--buffers")
    assert comparable(json.loads(doc)) == comparable(want)
    assert int(dram) == want["devices"][1]["used"]["dram"] > 0


def test_installed_package_finds_the_soname(venv, segment, replay):
    replay(segment, "small.trace")
    r = run(venv, "import tt_alloc; print(tt_alloc.library_path()); "
            "print(tt_alloc.query_device_stats(0)['device_id'])", segment,
            TT_ALLOC_LIBRARY=None, LD_LIBRARY_PATH=os.path.dirname(LIB))
    assert r.returncode == 0, r.stderr
    path, dev = r.stdout.split()
    assert os.path.realpath(path) == os.path.realpath(LIB) and dev == "0"


def test_installed_package_without_library_says_what_to_install(venv, segment):
    r = run(venv, "import tt_alloc\n"
            "try:\n    tt_alloc.library_path()\n"
            "except tt_alloc.LibraryError as e:\n    print(e.errno, e)\n"
            "else:\n    print('loaded', tt_alloc.library_path())", segment,
            TT_ALLOC_LIBRARY=None, LD_LIBRARY_PATH=None)
    assert r.returncode == 0, r.stderr
    if r.stdout.startswith("loaded"):
        pytest.skip("libttalloc.so.2 is installed on this system: " + r.stdout.split()[1])
    code, message = r.stdout.strip().split(" ", 1)
    assert int(code) == 2
    assert "libttalloc.so.2" in message and "make install" in message
    assert "TT_ALLOC_LIBRARY" in message


def test_installed_plugin_loads(venv, segment, tmp_path):
    (tmp_path / "test_x.py").write_text(
        "import pytest, tt_alloc\n"
        "@pytest.mark.tt_alloc_no_leak\n"
        "def test_leak():\n    tt_alloc.report_alloc(0, 1, 10, 'dram')\n")
    py, root = venv
    env = env_for(segment, tracking=True, PYTHONPATH=None, TT_ALLOC_LIBRARY=LIB)
    r = subprocess.run([py, "-m", "pytest", "-p", "tt_alloc.pytest_plugin", "-p",
                        "no:cacheprovider", "-q", str(tmp_path / "test_x.py")],
                       capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=60)
    assert r.returncode == 1 and "dram +10 B" in r.stdout, r.stdout + r.stderr
