"""Report assets shipped as package data (read with importlib.resources): the committed dd25
figures made by ``verification/dd25_figures.py``."""
