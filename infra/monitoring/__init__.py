"""Monitoring as code: the alert rules (rules.py, from monitoring/alerts.yml) and the little PromQL structure
they need (promql.py)."""
