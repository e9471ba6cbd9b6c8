"""The target's own monitoring, run for real: Prometheus and Alertmanager as run resources.

:class:`MonitoringStack` starts both (loopback only, free ports, labelled with the run id so a
killed run's leftovers are swept), loads the target's alert rules and receives Alertmanager's
notifications on a webhook of ours; each one becomes an ``alert`` event in the run's journal.
"""

from harness.monitoring.config import ScrapeTarget
from harness.monitoring.stack import MonitoringStack
from harness.monitoring.webhook import AlertReceiver, ReceivedAlert

__all__ = ["AlertReceiver", "MonitoringStack", "ReceivedAlert", "ScrapeTarget"]
