"""The signal webhook (seed 001): ``/xc`` connection strings keyed by a per-owner code."""
