"""The work of a batch: the rows a folder's CSV gets, numbered in the scan's order, and a
shard's share of them.

Every file the scan finds that is, or claims to be, an image (by extension or DICOM content)
gets a row, so a broken file shows up with its reason; other files are only counted, folders
that were not scanned (unreadable, or links out of the folder not followed) listed, and label
files beside the images that could not be used described, in ``FolderNotes``, whose scrubber
learns the identity of every header the scan reads. ``folder_work`` numbers the rows from 0 in
the scan's order (``batch_shard``: relative paths sorted folder by folder), whatever the shard;
``shard_work`` keeps a shard's. Any engine that scores the rows (the thread pool of
``batch.py``, or another) starts from these, and writes the rows back in this order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .batch_shard import Shard
from .identity import Scrubber
from .scan import DataFileProblem, ScannedImage, SkippedFile, scan_folder

RowItem = ScannedImage | SkippedFile


@dataclass(frozen=True, slots=True)
class WorkItem:
    """The file of row ``index`` (from 0) of the whole folder's CSV."""

    index: int
    item: RowItem


@dataclass(kw_only=True)
class FolderNotes:
    """What the scan of a folder found besides its rows: ``unscanned_folders`` could not be
    entered and ``links_not_followed`` lead out of the folder (both listed by path);
    ``data_problems`` are label files beside the images that could not be used; ``scrubber``
    knows the identities of every header read so far, to remove them from paths."""

    other_files: int = 0
    unscanned_folders: list[str] = field(default_factory=list)
    links_not_followed: list[str] = field(default_factory=list)
    data_problems: list[str] = field(default_factory=list)
    scrubber: Scrubber = field(default_factory=Scrubber, repr=False)


def folder_work(
    root: Path,
    notes: FolderNotes,
    *,
    follow_links: bool = False,
    cancelled: Callable[[], bool] | None = None,
    on_total: Callable[[int | None], None] | None = None,
    on_other_file: Callable[[], None] | None = None,
) -> Iterator[WorkItem]:
    """Every row of ``root``'s CSV as a ``WorkItem``, in the scan's order, as the scan streams.

    ``notes`` collects what is not a row; ``on_other_file()`` is called for each file that gets
    none, ``on_total(files or None)`` when the scan knows how many files there are. Ends early,
    silently, once ``cancelled()`` returns True. Raises ``ScanError`` when the folder cannot be
    scanned at all (it vanished, or cannot be opened).
    """
    def progress(done: int, total: int | None) -> None:
        if on_total is not None:
            on_total(total)

    index = 0
    for item in scan_folder(root, on_progress=progress, cancelled=cancelled, follow_links=follow_links):
        if isinstance(item, ScannedImage):
            notes.scrubber.add(item.identity)
        if isinstance(item, DataFileProblem):
            notes.data_problems.append(f"{item.display_path}: {item.reason}")
            continue
        if isinstance(item, ScannedImage) or item.claimed_format is not None:
            yield WorkItem(index, item)
            index += 1
            continue
        if item.link_not_followed:
            notes.links_not_followed.append(item.display_path)
        elif item.folder:
            notes.unscanned_folders.append(f"{item.display_path} ({item.reason})")
        notes.other_files += 1
        if on_other_file is not None:
            on_other_file()


def shard_work(work: Iterable[WorkItem], shard: Shard | None,
               on_passed: Callable[[WorkItem], None] | None = None) -> Iterator[WorkItem]:
    """The items of ``work`` that are ``shard``'s (all of them for None), in order;
    ``on_passed(item)`` is called for each of the others."""
    for item in work:
        if shard is None or shard.takes(item.index):
            yield item
        elif on_passed is not None:
            on_passed(item)
