"""Every table. Importing this package registers them all on `Base.metadata`."""

from app.models.audit import AuditEntry
from app.models.auth import Group, SignInSession, SingleSignOnIdentity, User, user_group
from app.models.channels import RelayedFrame
from app.models.constance import SettingChange, SettingsVersion, StoredSetting
from app.models.jobs import JobRun, ScheduledJob
from app.models.notifications import Notification, NotificationRead
from app.models.saved_views import DefaultView, SavedView
from app.models.shop import (
    Category,
    Customer,
    CustomerStats,
    Order,
    OrderHour,
    OrderItem,
    OrderStatus,
    Product,
    Tag,
    Ticket,
    TicketPriority,
    TicketStatus,
    product_tag,
)
from app.models.two_factor import RecoveryCode, TwoFactor

__all__ = [
    "AuditEntry",
    "Category",
    "Customer",
    "CustomerStats",
    "DefaultView",
    "Group",
    "JobRun",
    "Notification",
    "NotificationRead",
    "Order",
    "OrderHour",
    "OrderItem",
    "OrderStatus",
    "Product",
    "RecoveryCode",
    "RelayedFrame",
    "SavedView",
    "ScheduledJob",
    "SettingChange",
    "SettingsVersion",
    "SignInSession",
    "SingleSignOnIdentity",
    "StoredSetting",
    "Tag",
    "Ticket",
    "TicketPriority",
    "TicketStatus",
    "TwoFactor",
    "User",
    "product_tag",
    "user_group",
]
