"""The deterministic partner-feed generator: every feed as its transport delivers it, grounded in real data, with
the faults real partners make planted at configurable rates and written to a ground truth the tests read."""

from cspwh.generator.run import generate

__all__ = ["generate"]
