"""The viewer's state and its rules, without a screen: what the Qt widgets show and why.

The operating point and the flags it gives, what the findings panel and the study browser say
about an image, window presets and window/level, the view transform and the ruler. Plain
classes over ``viewer.core`` and numpy that tests drive directly; ``viewer.ui`` holds them and
converts to Qt at its edge. Never imports Qt or torch (an import-linter contract).
"""
