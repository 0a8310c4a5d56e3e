"""DA backends behind one interface; the local directory is the embedded default."""

from anima_dasync.backends.base import DABackend, ManifestExists
from anima_dasync.backends.local import LocalDirectoryBackend

__all__ = ["DABackend", "LocalDirectoryBackend", "ManifestExists"]
