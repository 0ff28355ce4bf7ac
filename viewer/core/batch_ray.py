"""The batch on Ray (``cxr-viewer batch --engine ray``): the same CSV, scored by Ray Data on a
laptop or on a Ray cluster ([decision 0007](../../docs/decisions/0007-ray-engine.md)).

``RayEngine`` is a ``batch.BatchEngine``: the scan, the rows kept from an interrupted run,
``--shard`` and the writing stay on the driver, in ``batch.run_batch``, exactly as for the
thread engine. The engine gets the rows to score in the CSV's order and makes a Ray dataset of
those with an image (their row numbers and absolute paths), then two steps:

* decode and preprocess (``prepare_file``, the thread engine's function), a block of
  ``batch_size`` images at a time; the workers read the images by path, so the folder must be
  at the same path on every node (a shared file system: checked before the run);
* the model (``score_prepared``, the thread engine's function) in a pool of actors, each of which
  opens the ONNX pair once, from bytes the driver put in Ray's object store (the workers need
  no copy of the model), and gives back each row's outcome.

Both steps ask for the same CPUs, so Ray Data fuses them: an actor decodes a block and scores
it. The driver takes the outcomes as they come, in any order, and gives them back to the batch
in row order (holding the few that arrive early), so the CSV is the thread engine's, byte for
byte.

A worker lost mid-run (its node gone) costs only time, by Ray Data's defaults, which the engine
keeps: tasks retried and actors restarted elsewhere without limit (``max_retries``,
``max_restarts``, ``max_task_retries`` -1). Nothing leaves the machine that Ray is not pointed
at: usage statistics are off, there is no dashboard, and without an address the engine starts
a private Ray instance on 127.0.0.1 with a fresh authentication token. Ray itself is imported
only by ``start``: the viewer works without it.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .batch import (
    DEFAULT_BATCH_SIZE,
    BatchSetupError,
    Outcome,
    Prepared,
    Scored,
    _Predictor,
    prepare_file,
    score_prepared,
)
from .batch_work import RowItem
from .errors import CxrError, one_line
from .model import sidecar_path_for
from .scan import ScannedImage

RAY_MISSING = "the ray engine needs the ray extra: pip install 'cxr-viewer[ray]'"
# Environment variables Ray reads (at import, or when it starts its processes).
USAGE_STATS = "RAY_USAGE_STATS_ENABLED"
LOOPBACK_NODE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": one node, on the loopback address
AUTH_MODE, AUTH_TOKEN, AUTH_TOKEN_PATH = "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"
RAY_ADDRESS = "RAY_ADDRESS"
ACTORS_START_S = 300  # how long the model actors may take to start (the model is sent to each)


class RayEngineError(CxrError):
    """Ray failed during a run (the cluster went away, every node of it): the rows written
    before are kept, for the same command to resume."""


@dataclass
class RayStats:
    """Where a run's work went: the Ray nodes (ids) that decoded images and that ran the model
    (with the rows each scored), and how many nodes the cluster had when the run started."""

    address: str = ""
    nodes: int = 0
    decode_nodes: set[str] = field(default_factory=set)
    model_nodes: set[str] = field(default_factory=set)
    rows_by_node: Counter[str] = field(default_factory=Counter)

    def describe(self) -> str:
        where = {"local": "a local Ray instance", "current": "the current Ray session"}.get(
            self.address, f"the Ray cluster at {self.address}")
        nodes = f"{self.nodes} node" + ("s" if self.nodes != 1 else "")
        return f"{where} ({nodes}): images decoded on {len(self.decode_nodes)}, scored on {len(self.model_nodes)}"


class RayEngine:
    """Scores a batch's rows with Ray Data (module doc). ``address``: a Ray cluster's
    (``host:port`` of its head, or ``auto``); None: ``$RAY_ADDRESS`` when set, else a
    private local instance on 127.0.0.1. ``actors``: model actors (default: between 1 and as many
    as the cluster's CPUs allow, as Ray Data sees fit); each reserves ``actor_cpus`` CPUs and runs
    ONNX Runtime on ``threads`` threads (default: ``actor_cpus``, at least 1). Decoding asks for
    the same CPUs, so Ray Data runs it inside the actors (operator fusion): each actor decodes a
    block and scores it, and the preprocessed pixels never cross the network. ``stats`` says
    where the work went."""

    def __init__(self, address: str | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE,
                 actors: int | None = None, actor_cpus: float = 1.0, threads: int | None = None,
                 object_store_memory: int | None = None) -> None:
        self.address = address
        self.batch_size = max(1, batch_size)
        self.actors, self.actor_cpus = actors, actor_cpus
        self.threads = threads or max(1, int(actor_cpus))
        self.object_store_memory = object_store_memory  # for a local instance only
        self.stats = RayStats()
        self._ray: Any = None
        self._connected = False  # by this engine: it disconnects (and stops a local instance) on close
        self._model: list[Any] = []  # the ONNX pair in the object store: [(name, ref), (name, ref)]
        self._cluster_cpus = 1.0
        self._temp: Path | None = None  # a local instance's folder (sockets, logs), removed on close

    # -- start and close -------------------------------------------------------------------------
    def start(self, predictor: _Predictor) -> None:
        """Connect to the cluster (or start a local instance) and put the model pair in its object
        store; ``BatchSetupError`` when Ray is missing, the cluster cannot be reached, or a local
        instance would not be on the loopback address."""
        address = self.address or os.environ.get(RAY_ADDRESS) or "local"
        ray = self._import_ray(local=address == "local")
        if ray.is_initialized():  # the caller's own Ray session: used as it is, and left open
            address = "current"
        else:
            self._init(ray, address)
        self.stats.address = address
        try:
            self._check_loopback(ray, address)
            self._configure_data(ray)
            classifier = Path(predictor.model_path)
            self._model = [(path.name, ray.put(path.read_bytes()))
                           for path in (classifier, sidecar_path_for(classifier))]
            nodes = [n for n in ray.nodes() if n.get("Alive")]
            self.stats.nodes = len(nodes)
            self._cluster_cpus = float(sum(n.get("Resources", {}).get("CPU", 0.0) for n in nodes))
        except BatchSetupError:
            raise
        except OSError as exc:
            raise BatchSetupError(f"cannot read the model to send it to Ray ({exc.strerror or exc})") from None
        except Exception as exc:
            raise BatchSetupError(f"Ray: {type(exc).__name__}: {one_line(exc, 300, empty='')}") from None

    def _import_ray(self, *, local: bool) -> Any:
        os.environ[USAGE_STATS] = "0"  # before Ray starts anything: no usage report, ever
        if local:
            # A private instance: on the loopback address (Ray reads this at import), with its own
            # token (token auth on, and nothing written to ~/.ray).
            if "ray" not in sys.modules:
                os.environ[LOOPBACK_NODE] = "0"
            if not os.environ.get(AUTH_MODE):
                os.environ[AUTH_MODE] = "token"
            if not os.environ.get(AUTH_TOKEN) and not os.environ.get(AUTH_TOKEN_PATH):
                os.environ[AUTH_TOKEN] = secrets.token_hex(32)
        try:
            import ray
            import ray.data  # the extra's data part (pyarrow, pandas)
        except ModuleNotFoundError as exc:
            if exc.name is not None and exc.name.split(".")[0] in {"ray", "pyarrow", "pandas"}:
                raise BatchSetupError(RAY_MISSING) from None
            raise
        self._ray = ray
        return ray

    def _init(self, ray: Any, address: str) -> None:
        options: dict[str, Any] = {
            "configure_logging": True, "logging_level": logging.WARNING, "log_to_driver": False,
        }
        if address == "local":
            options.update(include_dashboard=False, object_store_memory=self.object_store_memory)
            if os.path.isdir("/tmp"):  # short: Ray's Unix socket paths inside must stay under 107 characters
                self._temp = Path(tempfile.mkdtemp(prefix="cxr-ray-", dir="/tmp"))
                options["_temp_dir"] = str(self._temp)
        # ray.init sets its own SIGTERM handler (exit at once); the batch's own (stop after the model
        # call under way, keep the rows) must stay.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.getsignal(signal.SIGTERM) if main else None
        try:
            ray.init(address=address, **options)
        except Exception as exc:
            where = "a local Ray instance could not start" if address == "local" else \
                f"cannot connect to the Ray cluster at {address}"
            raise BatchSetupError(f"{where}: {type(exc).__name__}: {one_line(exc, 300, empty='')}") from None
        finally:
            if main and previous is not None:
                signal.signal(signal.SIGTERM, previous)
        self._connected = True

    def _check_loopback(self, ray: Any, address: str) -> None:
        if address != "local":
            return
        ip = ray.util.get_node_ip_address()
        if not (ip.startswith("127.") or ip == "::1"):
            raise BatchSetupError(
                f"a local Ray instance would listen on {ip}, not only on the loopback address, because Ray "
                "was imported in this process before the batch: run the batch in a process of its own, or "
                "start Ray yourself (ray start --head --node-ip-address=127.0.0.1) and pass --ray-address"
            )

    def _configure_data(self, ray: Any) -> None:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the batch draws its own
        # A pool of a given size starts work once all its actors are up (each has the model open),
        # so the first does not take every block; a cluster too small for it fails, not hangs.
        context.wait_for_min_actors_s = ACTORS_START_S
        context.print_on_execution_start = False
        context.execution_options.preserve_order = False  # the driver puts the rows back in order
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled"

    def close(self) -> None:
        """Free the model in the object store; disconnect (a local instance stops with it)."""
        self._model = []
        if self._connected and self._ray is not None:
            self._ray.shutdown()
            self._connected = False
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    # -- scoring ---------------------------------------------------------------------------------
    def score(self, predictor: _Predictor, items: Iterable[RowItem], stop: Callable[[], bool]) -> Iterator[Scored]:
        """Every item with its outcome, in groups, in the items' order (``BatchEngine``). The scan
        ends before Ray starts: a Ray dataset is a list."""
        rows: list[RowItem] = []
        for item in items:
            rows.append(item)
            if stop():
                return
        if stop():
            return
        outcomes: dict[int, Outcome] = {i: item.reason for i, item in enumerate(rows)
                                        if not isinstance(item, ScannedImage)}
        images = [{"row": i, "path": os.fsencode(os.path.abspath(item.path))}
                  for i, item in enumerate(rows) if isinstance(item, ScannedImage)]
        written = 0

        def in_order() -> Scored:
            """The rows from ``written`` on whose outcomes are in, taken out of ``outcomes``."""
            nonlocal written
            group: Scored = []
            while written in outcomes:
                group.append((rows[written], outcomes.pop(written)))
                written += 1
            return group

        group = in_order()  # rows that need no image before the first that does
        if group:
            yield group
        self._check_shared(images)
        for found in self._outcomes(predictor, images):
            if stop():
                return
            outcomes.update(found)
            group = in_order()
            if group:
                yield group
        if written < len(rows):
            raise RayEngineError(f"Ray gave back {written} of {len(rows)} rows; the rows written so far are kept: "
                                 "run the same command again to resume")

    def _check_shared(self, images: list[dict[str, Any]]) -> None:
        """Refuse a cluster whose nodes do not all see the images where the driver does: every
        row would be a "no such file" error, and a finished CSV of errors is never scored again."""
        path = next((image["path"] for image in images[:10] if os.path.exists(image["path"])), None)
        if path is None:  # the files went since the scan: their rows will say so
            return
        try:
            blind, nodes = nodes_without(self._ray, path)
        except Exception as exc:
            raise RayEngineError(f"Ray failed while checking the nodes ({type(exc).__name__}: "
                                 f"{one_line(exc, 300, empty='')})") from None
        if blind:
            raise RayEngineError(
                f"{blind} of {nodes} Ray nodes cannot see the folder's images at the path this machine sees "
                "them: the ray engine needs FOLDER at the same path on every node (a shared file system)"
            )

    def _outcomes(self, predictor: _Predictor, images: list[dict[str, Any]]) -> Iterator[dict[int, Outcome]]:
        """The outcomes of ``images`` (row -> outcome), a block at a time, in the order Ray finishes them."""
        if not images:
            return
        ray = self._ray
        height, width = predictor.card.input.height, predictor.card.input.width
        dataset = ray.data.from_items(images, override_num_blocks=-(-len(images) // self.batch_size))
        # Ray Data's defaults are what survives a lost worker: tasks retried without limit
        # (max_retries -1), actors restarted without limit, their calls retried (max_restarts,
        # max_task_retries -1); tests/core/test_batch_ray.py kills a node to hold it to that.
        dataset = dataset.map_batches(
            decode_block, batch_size=self.batch_size, batch_format="numpy", num_cpus=self.actor_cpus,
            fn_kwargs={"height": height, "width": width},
        )
        dataset = dataset.map_batches(
            ModelActor, batch_size=self.batch_size, batch_format="numpy", num_cpus=self.actor_cpus,
            fn_constructor_kwargs={"model": self._model, "threads": self.threads}, compute=self._actor_pool(ray),
        )
        try:
            for block in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                self.stats.decode_nodes.update(str(n) for n in block["decode_node"])
                self.stats.model_nodes.update(str(n) for n in block["model_node"])
                self.stats.rows_by_node.update(str(n) for n in block["model_node"])
                yield {int(row): pickle.loads(blob) for row, blob in zip(block["row"], block["outcome"])}
        except CxrError:
            raise
        except Exception as exc:
            raise RayEngineError(
                f"Ray failed during the run ({type(exc).__name__}: {one_line(exc, 300, empty='')}); the rows "
                "written so far are kept: run the same command again to resume"
            ) from None

    def _actor_pool(self, ray: Any) -> Any:
        if self.actors is not None:
            return ray.data.ActorPoolStrategy(size=self.actors)
        # As many as the cluster's CPUs hold; Ray Data grows the pool from one as the work queues up.
        most = int(self._cluster_cpus // self.actor_cpus) if self.actor_cpus > 0 else 1
        return ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, most))


def nodes_without(ray: Any, path: bytes, timeout: float = 120) -> tuple[int, int]:
    """(how many, of the cluster's live nodes with CPUs) cannot see ``path``: a zero-CPU task
    pinned to each node looks."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    look = ray.remote(num_cpus=0, max_retries=0)(os.path.exists)
    nodes = [node["NodeID"] for node in ray.nodes()
             if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) > 0]
    seen = ray.get([look.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(path)
                    for node in nodes], timeout=timeout)
    return sum(not found for found in seen), len(nodes)


# -- on the workers --------------------------------------------------------------------------------
def decode_block(block: dict[str, np.ndarray], *, height: int, width: int) -> dict[str, np.ndarray]:
    """A Ray task: the images of ``block`` (``row``, ``path`` as bytes) decoded and preprocessed
    (``prepare_file``); a file that fails gets its reason, and a blank image the model skips."""
    from viewer.core.preprocess import preprocess

    def prepare(radiograph: Any) -> np.ndarray:  # = Predictor.prepare, at the card's input size
        return preprocess(radiograph, height, width)

    count = len(block["row"])
    pixels = np.zeros((count, height, width), np.float32)
    ok = np.zeros(count, bool)
    reasons, notes = [], []
    for k, raw in enumerate(block["path"]):
        result = prepare_file(Path(os.fsdecode(bytes(raw))), prepare)
        if isinstance(result, Prepared):
            pixels[k], ok[k] = result.image, True
            reasons.append("")
            notes.append(json.dumps(list(result.notes)))
        else:
            reasons.append(result)
            notes.append("[]")
    return {"row": block["row"], "ok": ok, "image": pixels, "reason": np.array(reasons, dtype=object),
            "notes": np.array(notes, dtype=object), "decode_node": np.array([_node_id()] * count, dtype=object)}


class ModelActor:
    """A Ray actor: the model pair, opened once from the bytes in the object store, scoring a
    block of decoded images at a time (``score_prepared``); each row's outcome goes back pickled."""

    def __init__(self, model: list[tuple[str, Any]], threads: int) -> None:
        import ray

        from viewer.core.inference import Predictor

        folder = Path(tempfile.mkdtemp(prefix="cxr-model-"))
        try:  # the sessions hold the model in memory once open: the files go at once
            for name, ref in model:
                (folder / name).write_bytes(ray.get(ref))
            self.predictor = Predictor.open(folder / model[0][0], threads=threads, cache_size=0)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.node = _node_id()

    def __call__(self, block: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results: list[Prepared | str] = [
            Prepared(image, tuple(json.loads(str(notes)))) if ok else str(reason)
            for ok, image, reason, notes in zip(block["ok"], block["image"], block["reason"], block["notes"])
        ]
        outcomes = score_prepared(self.predictor, results)
        return {"row": block["row"], "outcome": np.array([pickle.dumps(o) for o in outcomes], dtype=object),
                "decode_node": block["decode_node"], "model_node": np.array([self.node] * len(outcomes), dtype=object)}


def _node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())

