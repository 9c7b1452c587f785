from django.urls import path

from trials import views

urlpatterns = [
    path("", views.home, name="home"),
]
