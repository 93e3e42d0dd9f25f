"""Users and API tokens: who am I (any role), and user management (``admin``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, status

from syncline.api.auth import Admin, Context, Viewer
from syncline.api.models import RowId, TokenBody, TokenCreated, UserBody, UserOut, UserUpdateBody
from syncline.errors import UsageError
from syncline.service.stores import User, keep_an_admin

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["users"])


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _out(user: User) -> UserOut:
    return UserOut(name=user.name, role=user.role, created_at=_aware(user.created_at),
                   created_by=user.created_by, has_password=user.has_password,
                   tokens=user.tokens)


def _existing(context: Context, name: str) -> User:
    found = context.users.find(name)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user '{name}'")
    return found


@router.get("/me", summary="The user the token belongs to")
def me(user: Viewer) -> UserOut:
    return _out(user)


@router.get("/users", summary="Every user")
def users(context: Context, _user: Admin) -> list[UserOut]:
    return [_out(user) for user in context.users.users()]


@router.post("/users", status_code=status.HTTP_201_CREATED, summary="Add a user")
def add_user(body: UserBody, context: Context, user: Admin) -> UserOut:
    try:
        created = context.users.add_user(body.name, body.role, body.password,
                                         created_by=user.name)
    except UsageError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return _out(created)


@router.patch("/users/{name}", summary="Change a user's role or password")
def update_user(name: str, body: UserUpdateBody, context: Context, _user: Admin) -> UserOut:
    found = _existing(context, name)
    if body.role is not None:
        try:
            keep_an_admin(context.users, found.name, body.role)
        except UsageError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        context.users.set_role(name, body.role)
    if body.password is not None:
        context.users.set_password(name, body.password)
    return _out(context.users.user(name))


@router.delete("/users/{name}", summary="Remove a user and their tokens")
def remove_user(name: str, context: Context, user: Admin) -> dict[str, Any]:
    _existing(context, name)
    if name == user.name:
        raise HTTPException(status.HTTP_409_CONFLICT, "you cannot remove yourself")
    context.users.remove_user(name)
    return {"removed": name}


@router.post("/users/{name}/tokens", status_code=status.HTTP_201_CREATED,
             summary="Create an API token (shown once)")
def create_token(name: str, body: TokenBody, context: Context, _user: Admin) -> TokenCreated:
    _existing(context, name)
    return TokenCreated(user=name, token=context.users.create_token(name, body.label),
                        label=body.label)


@router.get("/users/{name}/tokens", summary="A user's API tokens (never the tokens)")
def tokens(name: str, context: Context, _user: Admin) -> list[dict[str, Any]]:
    _existing(context, name)
    return [{"id": token.id, "label": token.label,
             "created_at": _aware(token.created_at).isoformat(),
             "last_used_at": _aware(token.last_used_at).isoformat()
             if token.last_used_at else None}
            for token in context.users.tokens(name)]


@router.delete("/tokens/{token_id}", summary="Revoke an API token")
def revoke(token_id: RowId, context: Context, _user: Admin) -> dict[str, Any]:
    if not context.users.revoke_token(token_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no API token {token_id}")
    return {"revoked": token_id}
