"""How a run records the data it was given, so that it can be found again later."""
from pathlib import Path


def saved_source(name_or_path):
    """An existing file or folder as an absolute path, anything else (a named set) as given.

    Runs save this, so that resuming, evaluating or inspecting a run works
    from any directory and never picks up a different file of the same
    relative name. An existing path wins over a name, as the loaders decide.
    """
    if name_or_path is None:
        return None
    path = Path(name_or_path)
    return str(path.resolve()) if path.exists() else str(name_or_path)
