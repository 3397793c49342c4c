"""Inference backends behind one contract (``haze_ros.core.backend.Backend``); runtimes imported lazily."""
