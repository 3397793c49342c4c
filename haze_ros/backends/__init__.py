"""Inference backends behind one contract (see ``base.Backend``); runtimes are imported lazily."""
