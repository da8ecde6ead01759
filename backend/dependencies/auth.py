"""Who is asking: the verified user the middleware put on the request, and path ownership."""

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backend.tokens import AuthenticatedUser

# Documents the bearer scheme in OpenAPI (Swagger's "Authorize"); the middleware verifies.
bearer_scheme = HTTPBearer(auto_error=False, description="A Better Auth JWT.")


async def get_current_user(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> AuthenticatedUser:
    """The authenticated user; the middleware already answered 401 for anyone else."""
    user: AuthenticatedUser | None = getattr(request.state, "user", None)
    if user is None:
        raise HTTPException(
            status_code=401,
            detail={"error": "Not authenticated"},
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )
    return user


CurrentUser = Annotated[AuthenticatedUser, Depends(get_current_user)]


async def require_path_owner(
    user_id: Annotated[
        str,
        Path(
            description="The authenticated user's id (the token's `sub`), percent-encoded as "
            "UTF-8 where it holds anything but letters, digits and `-._~`."
        ),
    ],
    current_user: CurrentUser,
) -> AuthenticatedUser:
    """403 unless the `{user_id}` in the path is the caller's own id."""
    if user_id != current_user.id:
        raise HTTPException(status_code=403, detail={"error": "You can only access your own tasks"})
    return current_user


PathOwner = Annotated[AuthenticatedUser, Depends(require_path_owner)]
