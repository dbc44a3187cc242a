"""Files that ship beside the code: the app's stylesheet and default settings."""
from importlib.resources import files

def path(name: str):
    """A traversable for a shipped asset, e.g. ``path("rnnplay.tcss")``."""
    return files(__name__) / name
