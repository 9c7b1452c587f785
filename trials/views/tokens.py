"""One's own API tokens: make one (shown once), see them, revoke one. See docs/security.md.

Only the owner makes a token, from a logged-in session; a role that requires a second factor makes
one only from a session that has entered a code. Making and revoking each take a reason (the
token's purpose, the reason for revoking), kept in the audit trail with who and when.
"""

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from trials.audit import change_context
from trials.models import ApiToken
from trials.roles import ROLES, has_role
from trials.security import two_factor_required

# Minted keys wait here for the one page view that shows them.
NEW_KEY = "new_api_token"


class NewTokenForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("What it is for"), max_length=100)
    scope = forms.ChoiceField(label=gettext_lazy("Scope"), choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)


def _refusal(user) -> str | None:
    if not has_role(user, *ROLES):
        return _("API tokens are for users with a study role.")
    if two_factor_required(user) and not user.is_verified():
        return _("Your role requires two-factor authentication: enter a code before making a token.")
    return None


@require_http_methods(["GET", "POST"])
def api_tokens(request):
    user = request.user
    form = NewTokenForm(request.POST or None)
    if request.method == "POST":
        refusal = _refusal(user)
        if refusal:
            messages.error(request, refusal)
            return redirect("api_tokens")
        if form.is_valid():
            with change_context(user=user, reason=f"API token made: {form.cleaned_data['name']}"):
                _token, key = ApiToken.mint(user, name=form.cleaned_data["name"], scope=form.cleaned_data["scope"],
                                            second_factor=user.is_verified())  # fmt: skip
            request.session[NEW_KEY] = key
            return redirect("api_tokens")
    return render(request, "registration/api_tokens.html", {
        "form": form, "tokens": ApiToken.objects.filter(user=user), "new_key": request.session.pop(NEW_KEY, None),
        "refusal": _refusal(user),
    })  # fmt: skip


@require_http_methods(["POST"])
def api_token_revoke(request, pk):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user, revoked_at__isnull=True)
    reason = request.POST.get("reason", "").strip()
    if not reason:
        messages.error(request, _("Give the reason for revoking the token."))
        return redirect("api_tokens")
    with change_context(user=request.user, reason=reason[:500]):
        token.revoke(by=request.user)
    messages.success(request, _("The token %(prefix)s… is revoked.") % {"prefix": token.prefix})
    return redirect("api_tokens")
