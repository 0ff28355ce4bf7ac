"""``python -m bench`` (``./run bench``): every benchmark of docs/design.md in one comparison table.

    python -m bench [--quick] [--only decode,inference,...] [--model NAME.onnx] [--data DIR]
                    [--split SPLIT.csv] [--write docs/benchmarks.md] [--json FILE]

Sections, in table order: ``decode`` (1i), ``inference`` (1ii), ``ui`` (1iii, 2), ``compare`` (9: a linked
1x2 layout against one view's repaint), ``scan`` (3),
``batch`` (4), ``ray`` (4-ray: ``batch --engine ray`` against the single process), ``analysis`` (4w, 1iv:
the folder analysis in the window), ``quantize`` (5),
``trainer`` (6), ``memory`` (7). The model defaults to the
bundled demo model; the NIH rows use ``../shared/data/nih-sample`` and say "skipped: no shared
data" without it. A section that fails becomes one row saying why; the others still run.
``--quick`` runs each measurement a few times on small inputs (the smoke test's mode: it proves
the code runs, its figures mean nothing).

``big`` (8: the 100,000-file folder in the window and the batch, about 20 minutes) and
``faithfulness`` (10: the deletion test of the maps on every test image per label, about half an
hour) run only when named: ``--only big``, ``--only faithfulness``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from viewer.core.errors import one_line
from viewer.core.process_settings import configure_process

from .common import ROOT, SHARED, Row, Settings
from .report import machine_lines, render_table, write_markdown

SECTIONS = ("decode", "inference", "ui", "compare", "scan", "batch", "ray", "analysis", "quantize", "trainer",
            "memory")
ON_REQUEST = ("big", "faithfulness")  # too long for every run: only with --only


def default_model() -> tuple[Path, str]:
    """The bundled demo model, else the newest run's model (said in the table's header)."""
    from viewer.core.resources import MissingResourceError, demo_model_path

    try:
        return demo_model_path(), "bundled demo model"
    except MissingResourceError:
        runs = sorted(ROOT.glob("runs/*/model.onnx"), key=lambda p: p.stat().st_mtime)
        if not runs:
            raise SystemExit("error: no bundled demo model and no runs/*/model.onnx: pass --model NAME.onnx") from None
        return runs[-1], f"demo model not bundled yet: newest run's {runs[-1].relative_to(ROOT)}"


def _section(name: str, settings: Settings) -> list[Row]:
    """Import lazily: a section's heavy imports (torch, Qt) cost only when it runs."""
    if name == "decode":
        from viewer.core.model import ModelPair

        from . import decode

        # Decoding is timed as the viewer and the batch decode: with the model's ONNX Runtime
        # sessions open. Opening one changes the whole process (OpenCV's own read + resize runs
        # ~10% faster afterwards, measured), so a bench that did not would time another state.
        model = ModelPair.open(settings.model)
        rows = decode.rows(settings, model.card.input.height)
        del model
        return rows
    if name == "inference":
        from . import inference

        return inference.rows(settings) + inference.gpu_rows(settings)
    if name in ("ui", "scan", "memory", "analysis", "compare"):
        from . import gui

        return gui.run_child(name, settings)
    if name == "batch":
        from . import throughput

        return throughput.rows(settings)
    if name == "ray":
        from . import ray_engine

        return ray_engine.rows(settings)
    if name == "quantize":
        from . import quantized

        return quantized.rows(settings)
    if name == "trainer":
        from . import trainer_input

        return trainer_input.rows(settings)
    if name == "big":
        from . import big

        return big.rows(settings)
    if name == "faithfulness":
        from . import faithfulness

        return faithfulness.rows(settings)
    raise ValueError(name)


def main(argv: list[str] | None = None) -> int:
    configure_process()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions, small inputs (smoke test)")
    parser.add_argument("--only", help=f"comma-separated sections of {','.join(SECTIONS + ON_REQUEST)}")
    parser.add_argument("--model", type=Path, help="NAME.onnx (NAME.gradcam.onnx beside it); default the demo model")
    parser.add_argument("--data", type=Path, default=SHARED / "nih-sample", help="the NIH sample folder")
    parser.add_argument("--split", type=Path, help="split.csv of the model's run (row 5; found by its hash if omitted)")
    parser.add_argument("--write", type=Path, help="also write the table and the machine to this Markdown file")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    unknown = [s for s in only if s not in SECTIONS + ON_REQUEST]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS + ON_REQUEST)}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    model, model_note = (args.model.resolve(), f"--model {args.model}") if args.model else default_model()
    data = args.data.resolve() if (args.data / "images").is_dir() else None
    started = time.perf_counter()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="cxr-bench-") as scratch:
        settings = Settings(model, model_note, data, args.quick, Path(scratch), args.split)
        for name in [s for s in SECTIONS + ON_REQUEST if s in only]:
            print(f"[bench] {name}...", file=sys.stderr, flush=True)
            section_start = time.perf_counter()
            rows += _run(name, settings)
            print(f"[bench] {name} done in {time.perf_counter() - section_start:.0f} s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started
    header = machine_lines(model, model_note, data, args.quick, seconds)
    print("\n".join(header))
    print()
    print(render_table(rows))
    if args.write:
        write_markdown(args.write, rows, header)
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in rows], indent=1))
    return 0


def _run(name: str, settings: Settings, section: Callable[[str, Settings], list[Row]] = _section) -> list[Row]:
    try:
        return section(name, settings)
    except Exception as exc:  # one broken section must not hide the others' figures
        traceback.print_exc(file=sys.stderr)
        return [Row(name, f"section {name}", note=f"failed: {type(exc).__name__}: {one_line(exc, 200, empty='')}")]


if __name__ == "__main__":
    sys.exit(main())
