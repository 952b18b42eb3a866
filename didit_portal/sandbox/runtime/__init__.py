"""The sandbox's asynchronous side: the background worker and the webhook deliveries it runs."""

from didit_portal.sandbox.runtime.delivery import WebhookDeliverer
from didit_portal.sandbox.runtime.worker import SandboxRuntime

__all__ = ["SandboxRuntime", "WebhookDeliverer"]
