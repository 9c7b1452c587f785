"""API authentication by token (`Authorization: Token <key>`), checked against the stored hash.

A token is refused when unknown, revoked or expired, when its user is inactive, and when its user's
role requires a second factor that the session minting the token had not passed (the role may have
changed since). A read-only token is refused for anything but reading.
"""

from django.utils.translation import gettext as _
from rest_framework import exceptions, permissions
from rest_framework.authentication import TokenAuthentication

from trials.models import ApiToken
from trials.models.tokens import hash_key


class HashedTokenAuthentication(TokenAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        found = super().authenticate(request)
        if found is None:
            return None
        user, token = found
        if token.scope == ApiToken.Scope.READ and request.method not in permissions.SAFE_METHODS:
            raise exceptions.PermissionDenied(_("This token is read-only: writing needs a read-and-write token."))
        return user, token

    def authenticate_credentials(self, key):
        from trials.security import two_factor_required

        token = ApiToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("This token was revoked."))
        if not token.is_active:
            raise exceptions.AuthenticationFailed(_("This token has expired: make a new one on your account page."))
        if two_factor_required(token.user) and not token.second_factor:
            raise exceptions.AuthenticationFailed(
                _("Your role requires two-factor authentication: make a new token after entering a code.")
            )
        return token.user, token
