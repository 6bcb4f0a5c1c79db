"""Monitoring as code: where metrics and logs go and who hears of alerts (workspaces.py, before the cluster),
what the cluster sends there and the alert rules over it (collection.py, rules.py, after it), and how the
managed agent scrapes the app (scrape.py, used by infra/workload.py)."""

from infra.monitoring.collection import ClusterMonitoring, ClusterMonitoringArgs
from infra.monitoring.rules import Parameters
from infra.monitoring.workspaces import Monitoring, MonitoringArgs

__all__ = ["ClusterMonitoring", "ClusterMonitoringArgs", "Monitoring", "MonitoringArgs", "Parameters"]
