"""Nothing leaves the machine.

In-process, every test runs with internet sockets blocked (tests/conftest.py, pytest-socket):
the first test below proves the block is on. The command-line programs run as the user runs
them, each in a network namespace without interfaces (``unshare -n``: a connection cannot
succeed) and under ``strace`` watching every socket the process and its children create, native
libraries included (ONNX Runtime, Qt, torch): none may be an internet socket (AF_INET/AF_INET6/
AF_PACKET), whether or not it could have connected, with one exception that cannot reach
another machine: a socket bound to the loopback address and never connected nor sent from.
That is urllib3's IPv6 probe at import (``bind(("::1", 0))``), which comes with pydicom wherever
``requests`` is installed (the ``ray`` extra brings it; the viewer's own dependencies and the
bundle do not). The viewer (GUI screenshot, --demo, batch) and the trainer (a 1-epoch train with
export on generated data, whose model the viewer then runs) are checked. Where the machine
refuses ``unshare -n`` or ``strace`` the tests say so.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import pytest_socket

from tests.factories import make_model_pair
from tests.reliability.corpus import chest_pixels, dicom_dataset, encode, save, write

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(900)
INTERNET = re.compile(r"\b(AF_INET6?|AF_PACKET|PF_INET6?)\b")


def _works(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


UNSHARE = shutil.which("unshare") is not None and _works(["unshare", "-n", "true"])
STRACE = shutil.which("strace") is not None and _works(
    ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=socket", "-o", "/dev/null", "true"])


def offline(argv: list[str], work: Path, *, timeout: float = 600) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``argv`` without a network and list the internet sockets it (or a child) created."""
    if not UNSHARE and not STRACE:
        pytest.skip("neither 'unshare -n' nor strace is usable on this machine")
    log = work / "strace.log"
    prefix: list[str] = []
    if UNSHARE:
        prefix += ["unshare", "-n"]
    if STRACE:
        prefix += ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=socket,connect,sendto,sendmsg,bind",
                   "-e", "signal=none", "-o", str(log)]
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen", HOME=str(work / "home"),
               XDG_CACHE_HOME=str(work / "cache"), XDG_RUNTIME_DIR=str(work / "run"))
    for name in ("home", "cache", "run"):
        (work / name).mkdir(parents=True, exist_ok=True)
    (work / "run").chmod(0o700)
    done = subprocess.run(prefix + argv, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
    calls = [line for line in log.read_text().splitlines() if INTERNET.search(line)] if STRACE else []
    return done, without_loopback_probes(calls)


SOCKET = re.compile(r"^(\d+)\s+socket\((?:AF|PF)_INET6?, .*\) = (\d+)$")
LOOPBACK_BIND = re.compile(r'^(\d+)\s+bind\((\d+), .*(?:inet_pton\(AF_INET6, "::1"|inet_addr\("127\.)')


def without_loopback_probes(calls: list[str]) -> list[str]:
    """``calls`` less the internet sockets that were only bound to the loopback address: each
    such socket's creation and its bind (a process that also connects or sends keeps them all)."""
    if any(re.search(r"\b(connect|sendto|sendmsg)\(", line) for line in calls):
        return calls
    bound = {match.groups() for line in calls if (match := LOOPBACK_BIND.match(line))}
    probes = {line for line in calls if (match := SOCKET.match(line)) and match.groups() in bound}
    probes |= {line for line in calls if (match := LOOPBACK_BIND.match(line)) and match.groups() in bound}
    return [line for line in calls if line not in probes]


def test_the_test_suite_itself_cannot_reach_the_network() -> None:
    with pytest.raises(pytest_socket.SocketBlockedError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1: never routable anyway
    with pytest.raises(pytest_socket.SocketBlockedError):
        socket.getaddrinfo("example.org", 443)
    with pytest.raises(pytest_socket.SocketBlockedError):
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    left, right = socket.socketpair(socket.AF_UNIX)  # local sockets stay allowed
    left.close()
    right.close()


def test_only_a_socket_bound_to_loopback_and_never_used_is_let_through() -> None:
    # as strace -f writes them: the pid, then two spaces
    probe = ['7  socket(AF_INET6, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3',
             '7  bind(3, {sa_family=AF_INET6, sin6_port=htons(0), sin6_flowinfo=htonl(0), '
             'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 EADDRNOTAVAIL (Cannot assign '
             'requested address)']
    assert without_loopback_probes(probe) == []
    unbound = ['7 socket(AF_INET, SOCK_DGRAM, IPPROTO_IP) = 4']
    assert without_loopback_probes(probe + unbound) == unbound
    anywhere = ['7 socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = 5',
                '7 bind(5, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("0.0.0.0")}, 16) = 0']
    assert without_loopback_probes(probe + anywhere) == anywhere
    sent = ['7 connect(3, {sa_family=AF_INET6, sin6_port=htons(443), inet_pton(AF_INET6, "::1", &sin6_addr)}, 28)']
    assert without_loopback_probes(probe + sent) == probe + sent


def test_the_checks_can_see_a_connection_attempt(tmp_path: Path) -> None:
    """The watcher works: a program that tries to connect is caught (and cannot connect)."""
    if not STRACE:
        pytest.skip("strace is not usable here: only the network namespace guards the runs below")
    done, calls = offline([sys.executable, "-c", "import socket\ntry:\n socket.create_connection(('192.0.2.1', 80), 2)"
                                                  "\nexcept OSError as e:\n print('refused', e)"], tmp_path)
    assert done.returncode == 0 and "refused" in done.stdout
    assert any("connect(" in line and "192.0.2.1" in line for line in calls), calls


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("offline") / "study"
    save(dicom_dataset(chest_pixels(160, 144)), root / "chest.dcm")
    write(root, "chest.png", encode(".png", (chest_pixels(150, 130, seed=3) >> 4).astype(np.uint8)))
    return root


def viewer(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "viewer", *map(os.fspath, args)]


def test_viewer_gui_screenshot_makes_no_connection(tmp_path: Path, folder: Path) -> None:
    model = make_model_pair(tmp_path / "model")
    done, calls = offline(viewer(folder, "--model", model, "--screenshot", tmp_path / "shot.png"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Heatmap shown:" in done.stdout and (tmp_path / "shot.png").is_file()
    assert calls == [], calls


def test_viewer_demo_makes_no_connection(tmp_path: Path) -> None:
    done, calls = offline(viewer("--demo", "--screenshot", tmp_path / "demo.png"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Image: " in done.stdout and (tmp_path / "demo.png").is_file()
    assert calls == [], calls


def test_viewer_batch_makes_no_connection(tmp_path: Path, folder: Path) -> None:
    model = make_model_pair(tmp_path / "model")
    done, calls = offline(viewer("batch", folder, "--model", model, "--out", tmp_path / "r.csv"), tmp_path)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "r.csv", newline="") as handle:
        assert [row["status"] for row in csv.DictReader(handle)] == ["ok", "ok"]
    assert calls == [], calls


@pytest.mark.slow
def test_trainer_train_and_export_then_viewer_batch_make_no_connection(tmp_path: Path, folder: Path) -> None:
    from tests.trainer.synthetic import make_dataset

    data = make_dataset(tmp_path / "nih")
    out = tmp_path / "run"
    done, calls = offline([sys.executable, "-m", "trainer", "train", "--data", str(data), "--out", str(out),
                           "--arch", "tiny", "--size", "64", "--epochs", "1", "--batch-size", "8",
                           "--bootstrap", "20", "--threads", "1", "--log-every", "0", "--ood-sample", "100",
                           "--gallery", "0"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (out / "model.onnx").is_file() and (out / "model.gradcam.onnx").is_file()
    assert calls == [], calls
    done, calls = offline(viewer("batch", folder, "--model", out / "model.onnx", "--out", tmp_path / "r.csv"),
                          tmp_path)
    assert done.returncode == 0, done.stderr
    assert calls == [], calls
