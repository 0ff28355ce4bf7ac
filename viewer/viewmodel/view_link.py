"""Linked viewports: what one view's window, zoom and pan mean for another image.

Two films of one patient seldom share a size or pixel values (a 1024 px NIH PNG beside a
3000 px DICOM; 8-bit beside 15-bit). So links are relative, the way a reader means them:
- zoom: the same magnification relative to each image's fit in its own viewport;
- pan: the same point of the image (as a fraction of its width and height) at the centre;
- window: the same change from each image's default window (a width twice the default stays
  twice the default; a level moved by a quarter of the default width moves by a quarter of the
  other's), which is the identity for two images of the same units and default.
"""

from __future__ import annotations

from viewer.core.radiograph import Window

from .view_transform import FIT_MARGIN, MIN_ZOOM, ViewTransform

Size = tuple[float, float]


def fit_zoom(view: ViewTransform, image: Size, viewport: Size) -> float:
    """The zoom at which the whole image (width, height) fits the viewport in ``view``'s orientation."""
    ew, eh = view.extent(int(image[0]), int(image[1]))
    return max(MIN_ZOOM, min((viewport[0] - FIT_MARGIN) / max(ew, 1.0), (viewport[1] - FIT_MARGIN) / max(eh, 1.0)))


def link_view(source: ViewTransform, source_image: Size, source_viewport: Size,
              target: ViewTransform, target_image: Size, target_viewport: Size) -> None:
    """Give ``target`` the zoom (relative to fit) and centre (relative to the image) of ``source``;
    a fitted source leaves the target fitted. Orientation is each view's own."""
    if source.fitted:
        target.fit(int(target_image[0]), int(target_image[1]), target_viewport[0], target_viewport[1])
        return
    relative = source.zoom / fit_zoom(source, source_image, source_viewport)
    target.zoom = relative * fit_zoom(target, target_image, target_viewport)
    fx = source.center[0] / max(source_image[0], 1.0)
    fy = source.center[1] / max(source_image[1], 1.0)
    target.center = (fx * target_image[0], fy * target_image[1])
    target.fitted = False


def link_window(window: Window, source_default: Window, target_default: Window) -> Window:
    """The window of the target image that is to its default what ``window`` is to the source's."""
    scale = target_default.width / source_default.width if source_default.width > 0 else 1.0
    return Window(
        center=target_default.center + (window.center - source_default.center) * scale,
        width=max(1e-6, window.width * scale),
        name=window.name,
        function=window.function,
    )


def same_window(a: Window | None, b: Window | None) -> bool:
    """The two windows show the same grey levels (up to rounding; names aside)."""
    if a is None or b is None:
        return a is b
    tolerance = 1e-6 * max(abs(a.width), abs(b.width), 1.0)
    return (abs(a.center - b.center) <= tolerance and abs(a.width - b.width) <= tolerance
            and a.function == b.function)
