"""`python -m bench`: the serving benchmark of issue 2 and the image figures of issue 3.

A benchmark, not a timed test: it prints figures and the targets they meet or miss. Everything runs on
127.0.0.1, every phase is bounded in time, and every server it starts is stopped before it exits.
"""
