"""Webhooks: Salesforce Outbound Messages and signed JSON hooks, answered fast, enqueueing imports."""
