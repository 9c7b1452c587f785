"""The top menu and the refusal page's account of the user's role (trials/menus.py, trials/roles.py)."""

from django import template

from trials import menus
from trials.roles import ROLE_DUTIES, ROLE_LABELS, ROLES, user_roles

register = template.Library()


@register.simple_tag(takes_context=True)
def main_menu(context) -> list[menus.MenuItem]:
    """The signed-in user's menu items for this page (none for a page rendered without a request)."""
    request = context.get("request")
    user = context.get("user")
    if request is None or user is None:
        return []
    return menus.menu_for(user, request.path)


@register.simple_tag
def roles_of(user) -> list[dict]:
    """The user's study roles, each with its label and what it does, in ROLES order."""
    held = user_roles(user)
    return [{"name": role, "label": ROLE_LABELS[role], "duties": ROLE_DUTIES[role]} for role in ROLES if role in held]
