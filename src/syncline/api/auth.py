"""Authentication and roles of the API.

Every route needs an ``Authorization: Bearer <token>`` header with a user's API token
(``syncline user token NAME``). Without one, or with an unknown token, the answer is
``401`` with ``WWW-Authenticate: Bearer``; a user whose role does not allow the route
gets ``403`` naming the role needed. See :class:`~syncline.state.users_store.Role` for
what each role may do.

A stable interface for the web console too. In a route::

    from syncline.api.auth import Context, Operator, Viewer

    @router.post("/links/{link}/sync")
    def start(link: str, context: Context, user: Operator) -> ...:   # 401 / 403 handled

``Viewer``, ``Operator`` and ``Admin`` are ``Annotated[User, Depends(require(role))]``;
:func:`authenticated` gives the user of any role; :func:`require` makes the check for a
role. A console that signs people in with a password uses
:meth:`~syncline.state.users_store.UsersStore.check_password` and may hand them an API
token made with :meth:`~syncline.state.users_store.UsersStore.create_token`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from syncline.api.context import ApiContext, context_of
from syncline.service.stores import Role, User

__all__ = ["Admin", "Context", "Operator", "Viewer", "authenticated", "require"]

_bearer = HTTPBearer(auto_error=False, description="An API token: syncline user token NAME")

Context = Annotated[ApiContext, Depends(context_of)]


def authenticated(context: Context,
                  credentials: Annotated[HTTPAuthorizationCredentials | None,
                                         Depends(_bearer)]) -> User:
    """The user whose token the request carries.

    Raises:
        HTTPException: 401 without a bearer token or with an unknown one.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "an API token is required "
                            "(Authorization: Bearer <token>; make one with "
                            "'syncline user token NAME')",
                            headers={"WWW-Authenticate": "Bearer"})
    user = context.users.authenticate(credentials.credentials)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the API token is not valid",
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return user


def require(role: Role) -> Callable[[User], User]:
    """A dependency giving the authenticated user when their role allows ``role``'s
    actions.

    Raises:
        HTTPException: 401 as :func:`authenticated`; 403 when the role is too low.
    """
    def check(user: Annotated[User, Depends(authenticated)]) -> User:
        if not user.role.allows(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"user '{user.name}' ({user.role.value}) may not do this: "
                                f"it needs the {role.value} role")
        return user

    return check


Viewer = Annotated[User, Depends(require(Role.VIEWER))]
Operator = Annotated[User, Depends(require(Role.OPERATOR))]
Admin = Annotated[User, Depends(require(Role.ADMIN))]
