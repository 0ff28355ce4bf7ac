"""``cxr-train compare``: two exported model pairs on the same labelled images.

``pairing`` says which label of model A is which label of model B, ``images`` chooses the
images and runs both pairs on each image read once, ``figures`` measures the pair (AUROC of
each, their paired bootstrap difference, sensitivity at 90% specificity, flags that flip, the
largest probability changes), ``markdown`` writes the table and ``command`` is the subcommand.
"""
