"""ENAS architecture search and its Ray Tune hosting."""
