"""Draw the application icon (a stylised chest radiograph with a heatmap spot) with OpenCV.

Writes ``cxr-viewer.png`` (256 px, the Qt window icon) and ``cxr-viewer.ico`` (16-256 px, the
Windows executable icon) beside this file. The icon is drawn, not downloaded, so it can be
regenerated anywhere:  python resources/icons/make_icon.py
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)


def draw(size: int = 1024) -> np.ndarray:
    """The icon as a BGRA image of ``size`` x ``size`` (drawn large, then downsampled)."""
    s = size / 256.0
    img = np.zeros((size, size, 4), np.uint8)
    # Rounded dark square (the film).
    r = int(40 * s)
    film = np.zeros((size, size), np.uint8)
    cv2.rectangle(film, (r, 0), (size - r, size), 255, -1)
    cv2.rectangle(film, (0, r), (size, size - r), 255, -1)
    for cx, cy in ((r, r), (size - r, r), (r, size - r), (size - r, size - r)):
        cv2.circle(film, (cx, cy), r, 255, -1, cv2.LINE_AA)
    img[..., :3] = (40, 30, 22)
    img[..., 3] = film

    grey = np.zeros((size, size), np.float32)
    c = size // 2
    # Lungs: two soft ellipses, darker than the soft tissue around them.
    body = np.zeros_like(grey)
    cv2.ellipse(body, (c, int(150 * s)), (int(100 * s), int(110 * s)), 0, 0, 360, 0.35, -1, cv2.LINE_AA)
    lungs = np.zeros_like(grey)
    for side in (-1, 1):
        cv2.ellipse(lungs, (c + side * int(45 * s), int(145 * s)), (int(38 * s), int(80 * s)),
                    side * 8, 0, 360, 0.25, -1, cv2.LINE_AA)
    grey += cv2.GaussianBlur(body - lungs, (0, 0), 6 * s)
    # Ribs: arcs on each side, white (dense).
    ribs = np.zeros_like(grey)
    for i in range(6):
        y = int((85 + 24 * i) * s)
        for side in (-1, 1):
            cv2.ellipse(ribs, (c, y), (int(88 * s), int(26 * s)), 0, 180 + (0 if side < 0 else 90),
                        270 + (0 if side < 0 else 90), 0.55, max(1, int(7 * s)), cv2.LINE_AA)
    grey += cv2.GaussianBlur(ribs, (0, 0), 1.5 * s)
    # Spine and clavicles.
    cv2.rectangle(grey, (c - int(9 * s), int(55 * s)), (c + int(9 * s), int(240 * s)), 0.8, -1)
    for side in (-1, 1):
        cv2.line(grey, (c + side * int(15 * s), int(70 * s)), (c + side * int(85 * s), int(55 * s)),
                 0.8, max(1, int(9 * s)), cv2.LINE_AA)
    grey = np.clip(grey, 0, 1)
    for k in range(3):
        img[..., k] = np.maximum(img[..., k], (grey * 235).astype(np.uint8))

    # A Grad-CAM style spot over the right lower lobe (blended with the jet colour map).
    heat = np.zeros_like(grey)
    cv2.circle(heat, (c - int(45 * s), int(185 * s)), int(22 * s), 1.0, -1, cv2.LINE_AA)
    heat = cv2.GaussianBlur(heat, (0, 0), 12 * s)
    heat /= heat.max()
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET).astype(np.float32)
    alpha = (0.75 * heat)[..., None]
    img[..., :3] = (img[..., :3] * (1 - alpha) + colour * alpha).astype(np.uint8)
    img[..., 3] = film
    return img


def png_bytes(img: np.ndarray, size: int) -> bytes:
    small = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", small)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode the {size} px icon as PNG")
    return buf.tobytes()


def ico_bytes(images: dict[int, bytes]) -> bytes:
    """A Windows .ico holding PNG-compressed images (supported since Windows Vista)."""
    header = struct.pack("<HHH", 0, 1, len(images))
    entries, payload = b"", b""
    offset = len(header) + 16 * len(images)
    for size, data in sorted(images.items()):
        dim = 0 if size >= 256 else size  # 0 means 256 in the ICO directory
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset + len(payload))
        payload += data
    return header + entries + payload


def main() -> None:
    img = draw()
    (HERE / "cxr-viewer.png").write_bytes(png_bytes(img, 256))
    (HERE / "cxr-viewer.ico").write_bytes(ico_bytes({n: png_bytes(img, n) for n in ICO_SIZES}))


if __name__ == "__main__":
    main()
