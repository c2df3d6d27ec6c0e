"""Users and groups in the admin: passwords typed twice, a set-password action, no hash shown,
and nobody but a superuser granting what they do not hold (app/auth/privileges.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.status import HTTP_403_FORBIDDEN
from starlette_admin.actions import row_action
from starlette_admin.exceptions import ActionFailed, FormValidationError
from starlette_admin.fields import PasswordField
from starlette_admin.flash import flash
from starlette_admin.helpers import on_commit
from starlette_admin.types import RequestAction

from app.admin.choices import ChoiceField
from app.admin.library import AfterFormCopy
from app.admin.maintenance import live_settings
from app.admin.model_view import AutoModelView
from app.auth import sessions, sign_ins, two_factor
from app.auth.accounts import email_problem, taken_problem, username_holder, username_problem
from app.auth.current import CurrentUser, actor_of, current_user
from app.auth.passwords import WeakPassword, check_strength, hash_password
from app.auth.privileges import (
    SUPERUSER_ACCOUNT,
    account_refusals,
    group_refusals,
    lacking,
    password_refusal,
    stored_account,
    stored_group,
)
from app.auth.single_sign_on import groups_mapped_to
from app.models import Group, User
from app.typed_values import whole_number

PASSWORD = "password"
PASSWORD_AGAIN = "password_again"
PASSWORD_FIELDS = (PASSWORD, PASSWORD_AGAIN)

SET_PASSWORD_FORM = f"""
<form>
  <div class="mb-3">
    <label class="form-label" for="sp-{PASSWORD}">New password</label>
    <input type="password" class="form-control" id="sp-{PASSWORD}" name="{PASSWORD}"
           autocomplete="new-password" required minlength="10">
  </div>
  <div class="mb-3">
    <label class="form-label" for="sp-{PASSWORD_AGAIN}">New password, again</label>
    <input type="password" class="form-control" id="sp-{PASSWORD_AGAIN}" name="{PASSWORD_AGAIN}"
           autocomplete="new-password" required minlength="10">
  </div>
</form>
"""


def password_errors(password: str, again: str, username: str | None) -> dict[str | int, str]:
    """Field-named problems with a new password, empty when it is acceptable."""
    errors: dict[str | int, str] = {}
    try:
        check_strength(password, username)
    except WeakPassword as weak:
        errors[PASSWORD] = str(weak).removeprefix("password: ")
    if password != again:
        errors[PASSWORD_AGAIN] = "must be the same as the password"
    return errors


def editor_of(request: Request) -> CurrentUser:
    editor = current_user(request)
    if editor is None:  # the admin signs everyone in first; never trust that silently
        raise HTTPException(HTTP_403_FORBIDDEN)
    return editor


class GrantsPermissions:
    """A multi-select of every grantable permission; the list is filled in by build_admin."""

    grantable_permissions: ClassVar[list[str]] = []

    def permissions_field(self) -> ChoiceField:
        return ChoiceField(
            "permissions",
            multiple=True,
            choices_loader=lambda request: [(p, p) for p in self.grantable_permissions],
            help_text="A superuser has every permission.",
        )

    def unknown_permissions(self, data: dict[str, Any]) -> dict[str | int, str]:
        unknown = [p for p in data.get("permissions") or [] if p not in self.grantable_permissions]
        if not unknown:
            return {}
        return {"permissions": f"unknown permission {unknown[0]!r}: pick from the list"}


class UserView(GrantsPermissions, AfterFormCopy, AutoModelView):
    model = User
    exclude_fields_from_list: ClassVar[Sequence[str]] = [*PASSWORD_FIELDS, "permissions"]  # type: ignore[misc]
    exclude_fields_from_detail: ClassVar[Sequence[str]] = list(PASSWORD_FIELDS)  # type: ignore[misc]
    exclude_fields_from_edit: ClassVar[Sequence[str]] = [  # type: ignore[misc]
        *PASSWORD_FIELDS,
        "last_login",
        "created_at",
    ]
    exclude_fields_from_create: ClassVar[Sequence[str]] = ["last_login", "created_at"]  # type: ignore[misc]
    exclude_fields_from_export: ClassVar[Sequence[str]] = list(PASSWORD_FIELDS)  # type: ignore[misc]
    exclude_fields_from_import: ClassVar[Sequence[str]] = list(PASSWORD_FIELDS)  # type: ignore[misc]
    row_actions: ClassVar[Sequence[str]] = [  # type: ignore[misc]
        "view",
        "edit",
        "set_password",
        "reset_two_factor",
        "delete",
    ]

    def __init__(self, model: type[Any] | None = None, **kwargs: Any) -> None:
        # Names and field objects mix, as the library allows.
        fields: list[Any] = [
            "id",
            "username",
            "email",
            PasswordField(PASSWORD, label="Password", required=True),
            PasswordField(PASSWORD_AGAIN, label="Password, again", required=True),
            "is_active",
            "is_superuser",
            "groups",
            self.permissions_field(),
            "last_login",
            "created_at",
        ]
        self.fields = fields
        super().__init__(model, **kwargs)

    async def validate(self, request: Request, data: dict[str, Any]) -> None:
        errors = self.unknown_permissions(data)
        for field, problem in (
            ("username", username_problem(str(data.get("username") or ""))),
            ("email", email_problem(data.get("email"))),
        ):
            if problem is not None:
                errors[field] = problem
        username = str(data.get("username") or "").strip()
        if "username" not in errors and username:
            # The same name exactly is the unique constraint's to refuse (imports name no key).
            editing = str(request.query_params.get("pk") or "")
            other = whole_number(editing, 18)
            held = await username_holder(request.state.session, username, other_than=other)
            if held is not None and held != username:
                errors["username"] = taken_problem(username, held)
        if PASSWORD in data:  # only the create form asks for one
            errors |= password_errors(
                data.get(PASSWORD) or "", data.get(PASSWORD_AGAIN) or "", data.get("username")
            )
        if errors:
            raise FormValidationError(errors)
        await super().validate(request, data)

    async def create(self, request: Request, data: dict[str, Any]) -> Any:
        if getattr(request.state, "action", None) == RequestAction.IMPORT:
            # Read as "password_hash: required" at the insert, naming a column no file has.
            raise FormValidationError(
                {
                    "username": "a new account needs a password, which an import does not "
                    "carry: create it with the user form or `users create`; an import changes "
                    "the accounts that exist (tick update_existing)"
                }
            )
        return await super().create(request, data)

    async def before_form_copy(self, request: Request, obj: Any, data: dict[str, Any]) -> None:
        editor = editor_of(request)
        if editor.is_superuser:
            return
        # Judged on the stored account, so a forged field or an import row is refused alike.
        stored = await stored_account(request.state.session, obj.id)
        errors = account_refusals(editor, stored, data)
        if errors:
            raise FormValidationError(errors)

    async def before_delete(self, request: Request, obj: Any) -> None:
        if obj.is_superuser and not editor_of(request).is_superuser:
            # Shown as text by the library's alert, not markup.
            raise ActionFailed(f"{SUPERUSER_ACCOUNT.capitalize()} ({obj.username}).")

    async def after_form_copy(self, request: Request, obj: Any, data: dict[str, Any]) -> None:
        # The library copies every form field onto the object; these two are not columns.
        for name in PASSWORD_FIELDS:
            vars(obj).pop(name, None)
        if data.get(PASSWORD):
            obj.password_hash = hash_password(data[PASSWORD])

    @row_action(
        name="set_password",
        text="Set password",
        confirmation="Type the new password twice. The user's other sessions will end.",
        header="Set password",
        submit_btn_text="Set password",
        icon_class="fa-solid fa-key",
        form=SET_PASSWORD_FORM,
        modal_size="md",
    )
    async def set_password(self, request: Request, pk: Any) -> None:
        user = await self.find_by_pk(request, pk)
        if user is None:
            raise ActionFailed("This user no longer exists.")
        editor = editor_of(request)
        if not editor.is_superuser:
            stored = await stored_account(request.state.session, user.id)
            refusal = password_refusal(editor, stored)
            if refusal:
                raise ActionFailed(refusal)
        form = await request.form()
        errors = password_errors(
            str(form.get(PASSWORD) or ""), str(form.get(PASSWORD_AGAIN) or ""), user.username
        )
        if errors:
            field, message = next(iter(errors.items()))
            raise ActionFailed(
                f"{'Password, again' if field == PASSWORD_AGAIN else 'Password'}: {message}"
            )
        user.password_hash = hash_password(str(form[PASSWORD]))
        await request.state.session.flush()
        me = current_user(request)
        if me is not None and me.id == user.id:
            # Changing one's own password keeps this session and ends the others.
            request.session[sessions.EPOCH] = user.session_epoch
        # Awaited by the request once committed (the library's on_commit), not a task of its own
        # that could outlive the request.
        broker = request.app.state.broker
        on_commit(request, lambda: sign_ins.tell_sockets(broker, user.id))
        flash(request, f"The password of {user.username} was changed.", "success")

    async def is_row_action_allowed(self, request: Request, name: str) -> bool:
        if name == "reset_two_factor":  # shown to superusers only; anyone else gets a 403
            return editor_of(request).is_superuser
        return await super().is_row_action_allowed(request, name)

    @row_action(
        name="reset_two_factor",
        text="Reset two-factor",
        confirmation=(
            "The user's authenticator app and recovery codes stop working. Where a setting "
            "requires a second factor of them, they set up a new one at their next sign-in."
        ),
        submit_btn_text="Reset two-factor",
        submit_btn_class="btn-danger",
        icon_class="fa-solid fa-mobile-screen",
    )
    async def reset_two_factor(self, request: Request, pk: Any) -> None:
        if not editor_of(request).is_superuser:
            raise ActionFailed("Only a superuser may reset another user's two-factor.")
        user = await self.find_by_pk(request, pk)
        if user is None:
            raise ActionFailed("This user no longer exists.")
        removed = await two_factor.remove(
            request.state.session,
            user.id,
            user.username,
            actor_of(request),
            action="two-factor-reset",
        )
        if not removed:
            raise ActionFailed(f"{user.username} has no two-factor authentication to reset.")
        flash(request, f"The two-factor authentication of {user.username} was reset.", "success")


class GroupView(GrantsPermissions, AfterFormCopy, AutoModelView):
    model = Group

    def __init__(self, model: type[Any] | None = None, **kwargs: Any) -> None:
        fields: list[Any] = ["id", "name", self.permissions_field(), "users"]
        self.fields = fields
        super().__init__(model, **kwargs)

    async def validate(self, request: Request, data: dict[str, Any]) -> None:
        errors = self.unknown_permissions(data)
        if errors:
            raise FormValidationError(errors)
        await super().validate(request, data)

    async def before_form_copy(self, request: Request, obj: Any, data: dict[str, Any]) -> None:
        renamed = getattr(obj, "id", None) is not None and data.get("name") != obj.name
        asked = two_factor.named_groups(live_settings(request))
        if renamed and obj.name in asked and data.get("name") not in asked:
            # Renamed, its members would no longer be the group the setting asks a code of.
            raise FormValidationError(
                {
                    "name": f"“{obj.name}” is named in the live setting TWO_FACTOR_FOR_GROUPS:"
                    f" add “{data.get('name')}” there first, then rename the group"
                }
            )
        editor = editor_of(request)
        if editor.is_superuser:
            return
        stored = await stored_group(request.state.session, obj.id)
        errors = group_refusals(editor, stored, data)
        mapped = groups_mapped_to(getattr(live_settings(request), "SSO_GROUPS", None) or {})
        missing = lacking(editor, stored.permissions)
        if renamed and data.get("name") in mapped and missing and "name" not in errors:
            # Named so, the group takes in whoever the provider says: as adding members.
            errors["name"] = (
                f"people signing in through single sign-on join the group named "
                f"“{data.get('name')}” (SSO_GROUPS): you may give that name only to groups whose "
                f"every permission you hold yourself; this group grants {', '.join(missing)}"
            )
        if errors:
            raise FormValidationError(errors)
