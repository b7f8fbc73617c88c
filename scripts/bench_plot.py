#!/usr/bin/python3
"""Plots for benchmark reports: latency CDFs and throughput over time, drawn with gnuplot.

    scripts/bench_plot.py var/bench/<timestamp> [commit.json] [--title T] [--stem S]

The code is scripts/flowstate/plot.py, which the benchmark drivers call after each run.
"""

import sys

from flowstate import plot

if __name__ == "__main__":
	sys.exit(plot.main())
