from django.shortcuts import render

from trials.access import patients_for_user, sites_for_user


def home(request):
    patients = patients_for_user(request.user).order_by("site__code", "study_id", "screening_number")
    return render(request, "trials/home.html", {"patients": patients, "sites": sites_for_user(request.user)})
