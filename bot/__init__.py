"""vro-chatops: run Veeam Recovery Orchestrator from Slack."""

__version__ = "0.1.0"
