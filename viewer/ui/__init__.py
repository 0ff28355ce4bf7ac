"""The desktop viewer (PySide6): the only package that imports Qt."""
