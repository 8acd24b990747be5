"""Async client for reel-ballers-api (`WorkersClient`) and RunPod's serverless API (`RunPodClient`)."""

from reel_ballers_client.errors import (
    ApiError,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    ServerError,
    TransportError,
    Unauthorized,
)
from reel_ballers_client.export_switch import ExportSwitch, start_export
from reel_ballers_client.runpod import RunPodClient, RunPodError
from reel_ballers_client.tokens import mint_user_token
from reel_ballers_client.webhooks import InvalidWebhook, verify_webhook
from reel_ballers_client.workers import TERMINAL_STATUSES, WorkersClient

__all__ = [
    "TERMINAL_STATUSES", "ApiError", "Conflict", "ExportSwitch", "Forbidden", "InvalidRequest", "InvalidWebhook",
    "NotFound",
    "RunPodClient", "RunPodError", "ServerError", "TransportError", "Unauthorized", "WorkersClient",
    "mint_user_token", "start_export", "verify_webhook",
]
