"""posenas: RGB video to 3D human poses and action labels, searched and served on Ray."""

__version__ = "0.1.0"
