"""The "Learning Rate Scheduling" chapter of An Alchemist's Notes on Deep Learning, as data.

``alchemist`` holds the chapter's runs, comparisons, claims and presets; ``report`` checks the
claims on finished runs and writes REPORT.md; ``reproduce`` trains a preset end to end
(``jaxsched reproduce``). This package sits on top of ``train`` and ``plot``; nothing below
imports it.
"""
