"""``cxr-train baselines``: classical models (random forest, k-nearest neighbours, decision tree,
SVM) trained on an exported network's pooled features and on downsampled pixels, scored beside
the network itself on the same test images (docs/evaluation.md, "Classical baselines")."""
