"""Approvals: who may request and approve which plan action, the request store, and the audit log."""
