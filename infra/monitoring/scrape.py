"""How AKS's managed Prometheus agent (the `ama-metrics` add-on) finds the app's metrics port, and who it is,
so that the app's NetworkPolicy lets only it in. Facts of the add-on, read in its source
(Azure/prometheus-collector, otelcollector/deploy/addon-chart/azure-monitor-metrics-addon/templates/):

- A PodMonitor of API group `azmonitoring.coreos.com/v1` (not prometheus-operator's `monitoring.coreos.com`,
  which the add-on ignores on purpose) is scraped: enabling the metrics profile installs its CRD
  (ama-metrics-podmonitor-crd.yaml), and on AKS the `ama-metrics` Deployment runs with
  AZMON_OPERATOR_ENABLED (ama-metrics-deployment.yaml), its target allocator handing the PodMonitors'
  targets to the collector replicas (internal/docs/Operator-CRD.md).
- Pod annotations (`prometheus.io/scrape`) are scraped only in namespaces matched by
  `podannotationnamespaceregex` in the kube-system ConfigMap `ama-metrics-settings-configmap`
  (otelcollector/configmapparser/default-prom-configs/podannotationsDefault.yml), a cluster-wide object that
  holds every other setting of the add-on too, and the series get `kubernetes_namespace` and
  `kubernetes_pod_name` labels and every pod label. We use a PodMonitor: it lives beside the app in its
  namespace, and prometheus-operator's relabelling gives the series `namespace` and `pod`, the names that
  kube-state-metrics' and cAdvisor's series carry, so the alert rules and the dashboard join them as they are.
- The collectors that scrape those targets are the pods of the `ama-metrics` Deployment in kube-system,
  labelled `rsName: ama-metrics` (ama-metrics-deployment.yaml; the add-on's own NetworkPolicy admits its
  collectors by that label, ama-metrics-targetallocator-networkpolicy.yaml). They run on the pod network (no
  hostNetwork), so a NetworkPolicy can name them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

AGENT_NAMESPACE = "kube-system"
AGENT_POD_LABELS = {"rsName": "ama-metrics"}
POD_MONITOR_API_VERSION = "azmonitoring.coreos.com/v1"
SCRAPE_INTERVAL = "30s"  # the add-on's default for its own targets


def pod_monitor_spec(selector: Mapping[str, str], port_name: str) -> dict[str, Any]:
    """A PodMonitor's spec (prometheus-operator's PodMonitor schema, which the add-on's CRD copies): the pods
    matching `selector` in the PodMonitor's own namespace, their container port `port_name`, /metrics."""
    return {
        "selector": {"matchLabels": dict(selector)},
        "podMetricsEndpoints": [{"port": port_name, "path": "/metrics", "interval": SCRAPE_INTERVAL}],
        # The limits the add-on sets on its own scrape jobs (podannotationsDefault.yml, kubestateDefault.yml).
        "labelLimit": 63,
        "labelNameLengthLimit": 511,
        "labelValueLengthLimit": 1023,
    }
