"""Row 1(ii): a prepared image -> 14 probabilities + 14 heatmaps, against two baselines.

(a) the bare ONNX Runtime classifier call on the same input, in a session with the same options
    (what the viewer cannot go below: our call adds the sidecar, the OOD score and the result);
(b) PyTorch eager + pytorch-grad-cam's ``GradCAM`` computing the same 14 maps, one call per label,
    on a network of the card's architecture built by ``trainer.model`` (random weights: the
    time does not depend on them). Both sides use the same number of threads.
"""

from __future__ import annotations

import numpy as np

from viewer.core.inference import Predictor
from viewer.core.model import CLASSIFIER_INPUT, CLASSIFIER_OUTPUTS, open_session

from .common import Row, Settings, interleaved, ms, rg1_path

THREADS = 2  # the target machine's cores


def _torch_gradcam(arch: str, labels: tuple[str, ...], size: int, image: np.ndarray):
    """A callable computing GradCAM for every label on ``image``, and the arch it really uses."""
    import torch
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from trainer.models.network import build_model

    torch.set_num_threads(THREADS)
    try:
        net = build_model(arch, labels).eval()
        used = arch
    except ValueError:  # e.g. the tests' hand-built ONNX model: time a trainer arch instead
        net = build_model("tiny", labels).eval()
        used = "tiny"
    cam = GradCAM(model=net, target_layers=[net.act])
    tensor = torch.from_numpy(image[None, None].astype(np.float32))

    def run() -> None:
        for c in range(len(labels)):
            cam(input_tensor=tensor, targets=[ClassifierOutputTarget(c)])

    return run, used, cam


def rows(settings: Settings) -> list[Row]:
    predictor = Predictor.open(settings.model, threads=THREADS, cache_size=0)
    height, width = predictor.input_size
    image = predictor.prepare(rg1_path())
    batch = image[None, None].astype(np.float32)
    session = open_session(settings.model, THREADS)  # the same options ModelPair uses
    feeds = {CLASSIFIER_INPUT: batch}
    outputs = list(CLASSIFIER_OUTPUTS)
    repeats = settings.repeats(30, 3)
    times = interleaved({
        "ours": lambda: predictor.predict_prepared(image),
        "bare": lambda: session.run(outputs, feeds),
    }, repeats)
    ratio_a = times["ours"] / times["bare"]
    result = [Row(
        "1ii-a", f"prepared {height}x{width} -> 14 probabilities + 14 maps (Predictor.predict_prepared)",
        ms(times["ours"]), f"{ms(times['bare'])} bare ORT classifier call", ratio_a, "<= 1.1",
        ratio_a <= 1.1, f"{THREADS} ORT threads; median of {repeats}",
    )]

    run, used, cam = _torch_gradcam(predictor.card.arch, predictor.labels, height, image)
    try:
        torch_repeats = settings.repeats(3, 1)
        torch_ms = interleaved({"torch": run}, torch_repeats, warmup=1)["torch"]
    finally:
        cam.activations_and_grads.release()
    speedup = torch_ms / times["ours"]
    card_arch = predictor.card.arch
    arch_note = "" if used == card_arch else f" (card arch {card_arch} unknown to trainer: timed {used})"
    result.append(Row(
        "1ii-b", "same, against PyTorch eager + pytorch-grad-cam GradCAM (14 maps, one call each)",
        ms(times["ours"]), f"{ms(torch_ms)} torch {used}{arch_note}", speedup, ">= 30x faster",
        speedup >= 30, f"ratio = torch / ours; torch {THREADS} threads, random weights; median of {torch_repeats}",
    ))
    return result


CUDA = "CUDAExecutionProvider"
GPU_BATCH = 8


def gpu_rows(settings: Settings) -> list[Row]:
    """Row 1ii-gpu: the same model on ONNX Runtime's CUDA provider against its CPU provider, one
    image and a batch of ``GPU_BATCH`` (the batch's call); skipped without a CUDA provider."""
    import onnxruntime as ort

    what = f"prepared image(s) -> probabilities + maps, CUDA provider against the CPU one ({THREADS} threads)"
    if CUDA not in ort.get_available_providers():
        return [Row("1ii-gpu", what, note="skipped: no CUDA provider here (the CPU onnxruntime; "
                                          "CXR_RUNTIME=gpu on a machine with an NVIDIA GPU)")]
    cpu = Predictor.open(settings.model, threads=THREADS, cache_size=0, providers=["CPUExecutionProvider"])
    gpu = Predictor.open(settings.model, threads=THREADS, cache_size=0, providers=[CUDA, "CPUExecutionProvider"])
    if CUDA not in gpu.model.providers:
        return [Row("1ii-gpu", what, note="skipped: ONNX Runtime has a CUDA provider but could not use it "
                                          "(no GPU, or CUDA/cuDNN missing)")]
    image = cpu.prepare(rg1_path())
    batch = [image] * GPU_BATCH
    difference = float(max(abs(a - b).max() for a, b in zip(
        (f.probabilities for f in gpu.predict_batch(batch)), (f.probabilities for f in cpu.predict_batch(batch)))))
    repeats = settings.repeats(30, 3)
    times = interleaved({
        "gpu 1": lambda: gpu.predict_prepared(image), "cpu 1": lambda: cpu.predict_prepared(image),
        "gpu batch": lambda: gpu.predict_batch(batch), "cpu batch": lambda: cpu.predict_batch(batch),
    }, repeats, warmup=3)
    note = f"median of {repeats}, after 3 warm-up calls; largest probability difference CUDA vs CPU {difference:.1e}"
    return [
        Row("1ii-gpu", "one prepared image, CUDA provider", ms(times["gpu 1"]), f"{ms(times['cpu 1'])} CPU provider",
            times["gpu 1"] / times["cpu 1"], "< 1", times["gpu 1"] < times["cpu 1"], note),
        Row("1ii-gpu", f"a batch of {GPU_BATCH}, CUDA provider", ms(times["gpu batch"]),
            f"{ms(times['cpu batch'])} CPU provider", times["gpu batch"] / times["cpu batch"], "< 1",
            times["gpu batch"] < times["cpu batch"], note),
    ]
