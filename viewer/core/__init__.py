"""Everything the viewer does without a screen: loading, display transforms, the model contract,
inference, heatmaps, boxes, folder scanning and the batch export. No Qt and no torch here."""
